// The test image (test/images/build.sh) against a real Docker engine, through the docker CLI.
// Contract under test: test/images/README.md.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpGet } from '../helpers/net.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const IMAGE = 'gantry-test/gameserver:1';
const RUN_ID = randomUUID().slice(0, 8);
const LABELS = ['--label', 'gantry.test=1', '--label', `gantry.test.run=${RUN_ID}`];

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function docker(...args: string[]): Promise<string> {
  const r = await run('docker', args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** A `docker run -i` process: its console output as lines, stdin to send commands, its exit code. */
class Attached {
  readonly lines: string[] = [];
  readonly exited: Promise<number>;
  private readonly proc: ChildProcessWithoutNullStreams;
  private waiters: Array<() => void> = [];

  constructor(readonly name: string, args: string[]) {
    this.proc = spawn('docker', ['run', '-i', '--name', name, ...LABELS, ...args], { stdio: 'pipe' });
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          this.lines.push(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
        for (const w of this.waiters) w();
      });
    }
    this.proc.stdin.on('error', () => {}); // the container may be gone before we write
    this.exited = new Promise((resolve) => this.proc.on('close', (code) => resolve(code ?? -1)));
  }

  send(line: string): void {
    this.proc.stdin.write(line + '\n');
  }

  closeStdin(): void {
    this.proc.stdin.end();
  }

  /** Resolves with the first line matching `re`, rejects after `ms` with the output so far. */
  waitFor(re: RegExp, ms = 20_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.lines.find((l) => re.test(l));
        if (hit === undefined) return false;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(hit);
        return true;
      };
      const waiter = (): void => void check();
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for ${re} in ${this.name}; output so far:\n${this.lines.join('\n')}`));
      }, ms);
      if (!check()) this.waiters.push(waiter);
    });
  }
}

async function inspectState(name: string): Promise<{ Running: boolean; ExitCode: number; OOMKilled: boolean }> {
  return JSON.parse(await docker('inspect', '-f', '{{json .State}}', name));
}

const dirs: string[] = [];
async function dataDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'gantry-test-image-'));
  dirs.push(d);
  return d;
}
const cname = (what: string): string => `gantry-test-image-${what}-${RUN_ID}`;

beforeAll(async () => {
  const engine = await run('docker', ['info', '--format', '{{.ServerVersion}}'], 30_000);
  if (engine.code !== 0) {
    throw new Error(`no Docker engine answers (run: bash scripts/setup.sh): ${engine.stderr.trim()}`);
  }
  const build = await run('bash', [path.join(ROOT, 'test/images/build.sh')], 110_000);
  if (build.code !== 0) throw new Error(`test/images/build.sh failed:\n${build.stdout}${build.stderr}`);
});

afterAll(async () => {
  const ids = (await run('docker', ['ps', '-aq', '--filter', `label=gantry.test.run=${RUN_ID}`])).stdout.split(/\s+/).filter(Boolean);
  if (ids.length) await run('docker', ['rm', '-f', ...ids]);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('test image gantry-test/gameserver:1', () => {
  it('is labelled with the hash of its inputs and runs the game server by default', async () => {
    const cfg = JSON.parse(await docker('image', 'inspect', '-f', '{{json .Config}}', IMAGE));
    expect(cfg.Labels['gantry.test.hash']).toMatch(/^[0-9a-f]{32}$/);
    expect(cfg.Cmd).toEqual(['/gameserver.sh']);
    expect(cfg.Entrypoint ?? null).toBeNull();
    expect(Object.keys(cfg.ExposedPorts)).toEqual(['25565/tcp']);
  });

  it('boots, echoes and logs console lines, answers on TCP, and exits 0 on `stop`', async () => {
    const data = await dataDir();
    const gs = new Attached(cname('stop'), ['--rm', '-v', `${data}:/data`, '-p', '127.0.0.1::25565', '-e', 'MOTD=hello world', IMAGE]);
    try {
      await gs.waitFor(/^\[boot\] gantry test server v1$/);
      await gs.waitFor(/^\[boot\] port=25565 motd=hello world$/);
      await gs.waitFor(/^Done! server ready$/);

      gs.send('say hi');
      await gs.waitFor(/^> say hi$/);
      await gs.waitFor(/^\[say\] hi$/);
      expect(await readFile(path.join(data, 'console.log'), 'utf8')).toContain('say hi\n');
      // docker exec works (applet links: sh, cat ...)
      expect(await docker('exec', cname('stop'), 'sh', '-c', 'cat /data/console.log')).toContain('say hi');

      const mapping = await docker('port', cname('stop'), '25565/tcp');
      const port = Number(mapping.split('\n')[0].split(':').pop());
      expect(port).toBeGreaterThan(0);
      const answer = await httpGet(port);
      expect(answer).toMatch(/^HTTP\/1\.[01] 200/);
      expect(answer).toContain('motd=hello world');

      gs.send('stop');
      await gs.waitFor(/^\[stop\] saving and stopping$/);
      expect(await gs.exited).toBe(0);
      expect(existsSync(path.join(data, 'saved'))).toBe(true);
      expect(existsSync(path.join(data, 'signalled'))).toBe(false);
    } finally {
      gs.closeStdin();
    }
  });

  it('exits 3 on `crash` and N on `exit N`', async () => {
    const crash = new Attached(cname('crash'), ['--rm', IMAGE]);
    await crash.waitFor(/^Done! server ready$/);
    crash.send('crash');
    expect(await crash.exited).toBe(3);
    expect(crash.lines).toContain('[crash] simulated crash, exit code 3');

    const exit = new Attached(cname('exit'), ['--rm', IMAGE]);
    await exit.waitFor(/^Done! server ready$/);
    exit.send('exit 42');
    expect(await exit.exited).toBe(42);
  });

  it('exits 0 on SIGTERM (docker stop) while blocked reading an open console', async () => {
    const data = await dataDir();
    const gs = new Attached(cname('term'), ['-v', `${data}:/data`, IMAGE]);
    await gs.waitFor(/^Done! server ready$/);
    await docker('stop', '-t', '30', cname('term'));
    expect(await gs.exited).toBe(0);
    expect((await inspectState(cname('term'))).ExitCode).toBe(0);
    expect(await readFile(path.join(data, 'signalled'), 'utf8')).toBe('TERM\n');
    expect(gs.lines).toContain('[signal] TERM received, exiting');
  });

  it('keeps running when stdin is closed, until SIGTERM (exit 0)', async () => {
    const gs = new Attached(cname('eof'), [IMAGE]);
    await gs.waitFor(/^Done! server ready$/);
    gs.closeStdin();
    await gs.waitFor(/^\[console\] stdin closed, running until stopped$/);
    expect((await inspectState(cname('eof'))).Running).toBe(true);
    await docker('stop', '-t', '30', cname('eof'));
    expect((await inspectState(cname('eof'))).ExitCode).toBe(0);
  });

  it('runs an install script in the same image, and reports it at boot', async () => {
    const data = await dataDir();
    await docker('run', '--rm', ...LABELS, '-v', `${data}:/data`, IMAGE, '/bin/sh', '-c', 'echo installed > /data/installed');
    expect(await readFile(path.join(data, 'installed'), 'utf8')).toBe('installed\n');
    const gs = new Attached(cname('installed'), ['--rm', '-v', `${data}:/data`, IMAGE]);
    await gs.waitFor(/^\[boot\] installed=yes$/);
    await gs.waitFor(/^Done! server ready$/);
    gs.send('stop');
    expect(await gs.exited).toBe(0);
  });

  it('burns CPU on `burn` (seen by docker stats)', async () => {
    const gs = new Attached(cname('burn'), ['--rm', IMAGE]);
    await gs.waitFor(/^Done! server ready$/);
    gs.send('burn');
    await gs.waitFor(/^\[burn\] started 1 busy loop\(s\)$/);
    const cpu = await docker('stats', '--no-stream', '--format', '{{.CPUPerc}}', cname('burn'));
    expect(parseFloat(cpu)).toBeGreaterThan(10);
    gs.send('stop');
    expect(await gs.exited).toBe(0);
  });

  it('is OOM-killed on `oom` under a memory limit', async () => {
    const gs = new Attached(cname('oom'), ['--memory', '64m', IMAGE]);
    await gs.waitFor(/^Done! server ready$/);
    gs.send('oom');
    expect(await gs.exited).toBe(137);
    const state = await inspectState(cname('oom'));
    expect(state.ExitCode).toBe(137);
    expect(state.OOMKilled).toBe(true);
  });
});
