import { PassThrough, type Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LineSplitter, LineThrottle, RingBuffer, ServerConsole, throttleNotice, type ConsoleLine } from '../../agent/runtime/console.ts';

describe('agent/runtime/console: LineThrottle (fake clock)', () => {
  it('passes maxLines per interval, drops the rest, and owes one notice per interval with drops', () => {
    const t = new LineThrottle({ maxLines: 3, intervalMs: 100 });
    const r = [0, 10, 20, 30, 40, 50].map((now) => t.offer(now));
    expect(r.map((x) => x.accept)).toEqual([true, true, true, false, false, false]);
    expect(r.every((x) => x.notice === undefined)).toBe(true);
    expect(t.flush(99)).toBeUndefined(); // interval not over yet
    expect(t.flush(100)).toBe(throttleNotice(3));
    expect(t.flush(150)).toBeUndefined(); // only once
  });

  it('hands the notice to the first line of the next interval when no flush ran', () => {
    const t = new LineThrottle({ maxLines: 1, intervalMs: 100 });
    t.offer(0);
    t.offer(1);
    t.offer(2);
    expect(t.offer(250)).toEqual({ accept: true, notice: '[Gantry] output throttled: 2 lines dropped' });
    expect(t.offer(260)).toEqual({ accept: false });
    expect(t.offer(400)).toEqual({ accept: true, notice: '[Gantry] output throttled: 1 lines dropped' });
    expect(t.offer(401)).toEqual({ accept: false });
  });

  it('an interval without drops owes nothing', () => {
    const t = new LineThrottle({ maxLines: 5, intervalMs: 100 });
    t.offer(0);
    expect(t.flush(500)).toBeUndefined();
    expect(t.offer(500)).toEqual({ accept: true });
    expect(() => new LineThrottle({ maxLines: 0, intervalMs: 1 })).toThrow();
  });
});

describe('agent/runtime/console: RingBuffer', () => {
  it('keeps the last N, oldest first', () => {
    const b = new RingBuffer<number>(3);
    expect(b.toArray()).toEqual([]);
    for (let i = 1; i <= 5; i++) b.push(i);
    expect(b.toArray()).toEqual([3, 4, 5]);
    expect(b.toArray(2)).toEqual([4, 5]);
    expect(b.length).toBe(3);
    b.clear();
    expect(b.toArray()).toEqual([]);
  });
});

describe('agent/runtime/console: LineSplitter', () => {
  it('splits on LF and CRLF across chunks, decodes UTF-8 split mid-character, returns the rest at end', () => {
    const s = new LineSplitter();
    const euro = Buffer.from('€'); // 3 bytes
    expect(s.push(Buffer.concat([Buffer.from('a\r\nb'), euro.subarray(0, 1)]))).toEqual(['a']);
    expect(s.push(Buffer.concat([euro.subarray(1), Buffer.from('\n\nc')]))).toEqual(['b€', '']);
    expect(s.end()).toEqual(['c']);
    expect(s.end()).toEqual([]);
  });

  it('cuts over-long lines', () => {
    const s = new LineSplitter(4);
    expect(s.push('abcdefghij')).toEqual(['abcd', 'efgh']);
    expect(s.push('k\n')).toEqual(['ijk']);
  });
});

/** A fake attach stream + demux: the test writes to `out`/`err` and reads stdin from `stdin`. */
function fakeAttach() {
  const stream = new PassThrough();
  const stdin: string[] = [];
  const origWrite = stream.write.bind(stream);
  (stream as unknown as { write: (c: string) => boolean }).write = (c: string) => {
    stdin.push(String(c));
    return true;
  };
  let out!: Writable;
  let err!: Writable;
  const demux = (_s: NodeJS.ReadableStream, o: NodeJS.WritableStream, e: NodeJS.WritableStream) => {
    out = o as Writable;
    err = e as Writable;
  };
  return { stream, stdin, demux, out: () => out, err: () => err, origWrite };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('agent/runtime/console: ServerConsole', () => {
  it('tags lines by stream, numbers them, keeps history and writes commands to stdin', async () => {
    let now = 1000;
    const c = new ServerConsole('u1', { historyLines: 3, throttle: false, now: () => now });
    const got: ConsoleLine[] = [];
    c.onLine((l) => got.push(l));
    const f = fakeAttach();
    c.attachStream(f.stream, f.demux);
    expect(c.attached).toBe(true);
    f.out().write(Buffer.from('boot 1\nboot'));
    f.err().write(Buffer.from('warn\n'));
    f.out().write(Buffer.from(' 2\n'));
    now = 2000;
    c.system('[Gantry] hello');
    await tick();
    expect(got.map((l) => [l.seq, l.stream, l.line])).toEqual([
      [1, 'stdout', 'boot 1'],
      [2, 'stderr', 'warn'],
      [3, 'stdout', 'boot 2'],
      [4, 'system', '[Gantry] hello'],
    ]);
    expect(c.recent().map((l) => l.line)).toEqual(['warn', 'boot 2', '[Gantry] hello']);
    c.send('say hi');
    expect(f.stdin).toEqual(['say hi\n']);
    expect(() => c.send('a\nb')).toThrow(/one line/);
    f.stream.emit('end');
    expect(c.attached).toBe(false);
    expect(() => c.send('x')).toThrow(/not attached/);
    c.close();
  });

  it('throttles: past maxLines per interval, lines are dropped and ONE system line reports how many', async () => {
    let now = 0;
    const c = new ServerConsole('u2', { throttle: { maxLines: 5, intervalMs: 1000 }, now: () => now });
    const got: ConsoleLine[] = [];
    c.onLine((l) => got.push(l));
    for (let i = 1; i <= 50; i++) c.ingest('stdout', `line ${i}`);
    expect(got.map((l) => l.line)).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
    now = 1000;
    c.flushPending(); // what the timer does at the end of the interval
    c.flushPending();
    expect(got.filter((l) => l.stream === 'system').map((l) => l.line)).toEqual(['[Gantry] output throttled: 45 lines dropped']);
    c.ingest('stdout', 'after');
    expect(got.at(-1)!.line).toBe('after');
    expect(c.droppedTotal).toBe(45);
    // reconfiguring mid-window reports the pending drops at once (the count is never lost)
    for (let i = 0; i < 10; i++) c.ingest('stdout', 'more');
    c.setThrottle(false);
    expect(got.at(-1)!.line).toBe('[Gantry] output throttled: 6 lines dropped');
    expect(c.droppedTotal).toBe(51);
    c.ingest('stdout', 'unthrottled');
    expect(got.at(-1)!.line).toBe('unthrottled');
    c.close();
  });

  it('the flush timer emits the notice by itself when output stops', async () => {
    const c = new ServerConsole('u3', { throttle: { maxLines: 1, intervalMs: 20 } });
    const got: ConsoleLine[] = [];
    c.onLine((l) => got.push(l));
    c.ingest('stdout', 'a');
    c.ingest('stdout', 'b');
    c.ingest('stdout', 'c');
    await new Promise((r) => setTimeout(r, 200));
    expect(got.map((l) => l.line)).toEqual(['a', '[Gantry] output throttled: 2 lines dropped']);
    c.close();
  });
});
