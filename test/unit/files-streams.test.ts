// The flow-controlled byte streams (lib/byte-streams.ts) that carry file transfers, between two
// endpoints joined by an asynchronous in-memory channel: the data arrives intact, a slow consumer
// bounds what is buffered to the window, aborts travel both ways, a lost channel fails everything,
// and a sender exceeding its credit is cut off.
import { createHash } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ByteStreams, encodeDataFrame, type StreamControl } from '../../lib/byte-streams.ts';
import { waitFor } from '../helpers/wait.ts';

/** Two endpoints; frames are delivered on a later turn, as over a socket. `inFlight` counts data bytes sent but not yet delivered. */
function pair(window = 256 * 1024, chunk = 16 * 1024, opts: { reuse?: boolean } = {}) {
  const stats = { inFlight: 0, maxInFlight: 0, up: true, frames: 0 };
  let a!: ByteStreams;
  let b!: ByteStreams;
  const link = (to: () => ByteStreams) => ({
    control: (msg: StreamControl) => {
      if (!stats.up) return false;
      const copy = JSON.parse(JSON.stringify(msg)) as StreamControl;
      setImmediate(() => stats.up && to().onControl(copy));
      return true;
    },
    data: (sent: Buffer, written?: (err?: Error | null) => void) => {
      if (!stats.up) return false;
      stats.frames++;
      // reuse: like a socket, take a copy and say so at once, so the sender may refill its buffer.
      const frame = opts.reuse ? Buffer.from(sent) : sent;
      if (opts.reuse) written?.();
      stats.inFlight += frame.length - 5;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      setImmediate(() => {
        stats.inFlight -= frame.length - 5;
        if (stats.up) to().onData(frame);
      });
      return true;
    },
  });
  a = new ByteStreams(link(() => b), { window, chunk });
  b = new ByteStreams(link(() => a), { window, chunk });
  return { a, b, stats };
}

function* pattern(total: number, piece = 100_000): Generator<Buffer> {
  for (let off = 0; off < total; off += piece) {
    const n = Math.min(piece, total - off);
    const buf = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) buf[i] = ((off + i) * 31) & 0xff;
    yield buf;
  }
}
const sha = (bufs: Iterable<Buffer>) => {
  const h = createHash('sha256');
  for (const b of bufs) h.update(b);
  return h.digest('hex');
};

describe('byte streams', () => {
  it('delivers 8 MB intact; a slow consumer keeps buffered + in-flight bytes within the window', async () => {
    const { a, b, stats } = pair(256 * 1024);
    const total = 8 * 1024 * 1024;
    const rx = b.receive(1); // credit granted on the first read
    let maxHeld = 0;
    const h = createHash('sha256');
    let got = 0;
    const reading = (async () => {
      for await (const c of rx) {
        h.update(c as Buffer);
        got += (c as Buffer).length;
        maxHeld = Math.max(maxHeld, rx.readableLength + stats.inFlight);
        if (got % (1024 * 1024) < 20_000) await new Promise((r) => setTimeout(r, 5)); // a slow consumer now and then
      }
    })();
    const sent = await a.send(1, Readable.from(pattern(total)));
    await reading;
    expect(sent).toBe(total);
    expect(got).toBe(total);
    expect(h.digest('hex')).toBe(sha(pattern(total)));
    expect(maxHeld).toBeLessThanOrEqual(256 * 1024);
    expect(stats.maxInFlight).toBeLessThanOrEqual(256 * 1024);
    expect(a.active + b.active).toBe(0);
  });

  it('sends nothing before the receiver reads (credit 0 until then)', async () => {
    const { a, b, stats } = pair();
    const rx = b.receive(7);
    const sending = a.send(7, Readable.from(pattern(100_000)));
    await new Promise((r) => setTimeout(r, 30));
    expect(b.counters.bytesIn).toBe(0);
    expect(stats.maxInFlight).toBe(0);
    const chunks: Buffer[] = [];
    for await (const c of rx) chunks.push(c as Buffer);
    expect(await sending).toBe(100_000);
  });

  it('a receiver that stops reading (destroy) aborts the sender, whose source is destroyed', async () => {
    const { a, b } = pair(64 * 1024);
    const rx = b.receive(2);
    const source = Readable.from(pattern(10 * 1024 * 1024));
    const sending = a.send(2, source);
    for await (const _ of rx) break; // destroys rx
    await expect(sending).rejects.toMatchObject({ name: 'StreamError', code: 'cancelled' });
    expect(source.destroyed).toBe(true);
  });

  it('the receiver aborting with a code (e.g. too_large on disk) fails the sender with that code', async () => {
    const { a, b } = pair();
    const rx = b.receive(3);
    const sending = a.send(3, Readable.from(pattern(5 * 1024 * 1024)));
    let n = 0;
    for await (const c of rx) {
      n += (c as Buffer).length;
      if (n > 200_000) {
        b.abort(3, Object.assign(new Error('upload.bin: more than the 200000-byte limit'), { code: 'too_large' }));
        break;
      }
    }
    await expect(sending).rejects.toMatchObject({ code: 'too_large', message: expect.stringContaining('200000-byte limit') });
  });

  it('a failing source or maxBytes aborts the receiver', async () => {
    const { a, b } = pair();
    const rx = b.receive(4);
    const drained = (async () => {
      for await (const _ of rx);
    })();
    await expect(a.send(4, Readable.from(pattern(1_000_000)), { maxBytes: 500_000 })).rejects.toMatchObject({ code: 'too_large' });
    await expect(drained).rejects.toMatchObject({ code: 'too_large' });

    const rx2 = b.receive(5);
    const drained2 = (async () => {
      for await (const _ of rx2);
    })();
    async function* broken() {
      yield Buffer.alloc(1000);
      throw new Error('client went away');
    }
    await expect(a.send(5, broken())).rejects.toThrow('client went away');
    await expect(drained2).rejects.toMatchObject({ code: 'failed', message: 'client went away' });
  });

  it('an abort that arrives before the receiver opened the stream fails that receive at once', async () => {
    const { a, b } = pair();
    async function* failsAtOnce(): AsyncGenerator<Buffer> {
      throw new Error('client disconnected before sending anything');
    }
    await expect(a.send(11, failsAtOnce())).rejects.toThrow('client disconnected');
    await new Promise((r) => setTimeout(r, 10)); // the abort reaches b before b opens stream 11
    const rx = b.receive(11);
    await expect((async () => {
      for await (const _ of rx);
    })()).rejects.toThrow('client disconnected before sending anything');
    expect(b.active).toBe(0);

    // The other direction: the receiver gave up before the sender started.
    b.receive(12).destroy();
    await new Promise((r) => setTimeout(r, 10));
    const source = Readable.from(pattern(1_000_000));
    await expect(a.send(12, source, { credit: 1_000_000 })).rejects.toMatchObject({ code: 'cancelled' });
    expect(source.destroyed).toBe(true);
    expect(a.counters.bytesOut).toBe(0);
  });

  it('a lost channel fails both ends; a sender over its credit is cut off', async () => {
    const { a, b, stats } = pair();
    const rx = b.receive(6);
    const sending = a.send(6, Readable.from(pattern(5 * 1024 * 1024)));
    const reading = (async () => {
      for await (const _ of rx) {
        stats.up = false;
        a.closeAll('socket closed');
        b.closeAll('socket closed');
      }
    })();
    await expect(sending).rejects.toMatchObject({ code: 'disconnected' });
    await expect(reading).rejects.toMatchObject({ code: 'disconnected' });

    const { b: b2 } = pair(1024, 1024);
    const rx2 = b2.receive(9, { granted: 1024 }); // nobody reads: no further credit
    const failed = new Promise((resolve) => rx2.on('error', resolve));
    b2.onData(encodeDataFrame(9, Buffer.alloc(1024)));
    b2.onData(encodeDataFrame(9, Buffer.alloc(1)));
    expect(await failed).toMatchObject({ code: 'protocol' });
    expect(b2.counters.protocolErrors).toBe(1);
  });

  it('coalesces what the source already holds into full frames, without waiting for more', async () => {
    const { a, b, stats } = pair(256 * 1024, 16 * 1024);
    const src = new PassThrough();
    for (let i = 0; i < 100; i++) src.write(Buffer.alloc(1024, i)); // 100 KiB buffered before sending starts
    const rx = b.receive(3);
    const got: Buffer[] = [];
    const reading = (async () => {
      for await (const c of rx) got.push(c as Buffer);
    })();
    const sending = a.send(3, src);
    // Then a piece on its own, and the source waits until it arrived: a sender holding bytes back for a
    // fuller frame would never deliver it (this test would time out).
    await new Promise((r) => setTimeout(r, 20));
    const before = stats.frames;
    src.write(Buffer.from('tail'));
    await waitFor(() => Buffer.concat(got).includes('tail'), 'the lone piece to arrive');
    expect(stats.frames).toBe(before + 1);
    src.end();
    expect(await sending).toBe(100 * 1024 + 4);
    await reading;
    expect(before).toBe(Math.ceil((100 * 1024) / (16 * 1024))); // 7 frames for the 100 pieces
    expect(Buffer.concat(got).subarray(0, 100 * 1024).equals(Buffer.concat(Array.from({ length: 100 }, (_, i) => Buffer.alloc(1024, i))))).toBe(true);
  });

  it('reuses frame buffers the transport has written: a window\'s worth, however long the transfer', async () => {
    const { a, b } = pair(128 * 1024, 16 * 1024, { reuse: true });
    const total = 8 * 1024 * 1024;
    const rx = b.receive(4);
    const h = createHash('sha256');
    const reading = (async () => {
      for await (const c of rx) h.update(c as Buffer);
    })();
    expect(await a.send(4, Readable.from(pattern(total)))).toBe(total);
    await reading;
    expect(h.digest('hex')).toBe(sha(pattern(total)));
    expect(a.counters.framesOut).toBeGreaterThan(500);
    expect(a.counters.framesAllocated).toBeLessThanOrEqual(128 / 16 + 2);
  });
});
