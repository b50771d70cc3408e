// The agent's Docker runtime against a real engine and the test image (test/images/README.md).
// One game server goes through its whole life (install → create → start → console → port → limits →
// stats → adoption by a second runtime → throttle → stop → kill → crash → remove); a second one covers
// stop escalation and the OOM kill. Every container carries gantry.test=1 and this run's label and is
// removed in afterAll, whatever happened.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import type { ConsoleLine, ServerConsole } from '../../agent/runtime/console.ts';
import { DiskLimitError, DockerRuntime, ImageUnavailableError } from '../../agent/runtime/docker-runtime.ts';
import { EventWatcher, type ObservedContainer } from '../../agent/runtime/events.ts';
import { HealthReporter } from '../../agent/runtime/health.ts';
import type { ContainerSpec } from '../../agent/runtime/spec.ts';
import { StatsSampler } from '../../agent/runtime/stats.ts';
import { httpGet as tcpGet } from '../helpers/net.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const IMAGE = 'gantry-test/gameserver:1';
const RUN_ID = randomUUID().slice(0, 8);
const SCOPE = { 'gantry.test': '1', 'gantry.test.run': RUN_ID };

const docker = new Docker();
let dataRoot = '';
let workDir = '';
let runtime: DockerRuntime;
let watcher: EventWatcher;
const observed: ObservedContainer[] = [];

function sh(cmd: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` }));
  });
}

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves with the first line after `afterSeq` matching `re` (history first, then live). */
function waitLine(con: ServerConsole, re: RegExp, afterSeq = 0, ms = 30_000): Promise<ConsoleLine> {
  return new Promise((resolve, reject) => {
    const hit = con.recent().find((l) => l.seq > afterSeq && re.test(l.line));
    if (hit) return resolve(hit);
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${re}; console:\n${con.recent(40).map((l) => `${l.stream}: ${l.line}`).join('\n')}`));
    }, ms);
    const off = con.onLine((l) => {
      if (l.seq > afterSeq && re.test(l.line)) {
        clearTimeout(timer);
        off();
        resolve(l);
      }
    });
  });
}

const lastSeq = (con: ServerConsole): number => con.recent(1)[0]?.seq ?? 0;

function serverSpec(name: string, extra: Partial<ContainerSpec> = {}): ContainerSpec {
  const serverUid = randomUUID();
  return {
    serverUid,
    name,
    namespace: 'test',
    image: IMAGE,
    command: ['/gameserver.sh'],
    env: { SERVER_PORT: '25565', MOTD: `agent runtime ${RUN_ID}` },
    dataDir: path.join(dataRoot, serverUid),
    dataPath: '/data',
    memoryMb: 128,
    cpuCores: 1,
    pidsLimit: 64,
    diskMb: 100,
    ports: [
      { containerPort: 25565, hostPort: 0, protocol: 'TCP' },
      { containerPort: 25565, hostPort: 0, protocol: 'UDP' },
    ],
    bindAddress: '127.0.0.1',
    stop: { type: 'command', value: 'stop' },
    stopTimeoutSeconds: 30,
    ...extra,
  };
}

function newRuntime(): DockerRuntime {
  return new DockerRuntime({ docker, dataRoot, workDir, log: createLogger({ component: 'agent.runtime', test: RUN_ID }, 'warn'), policy: { extraLabels: SCOPE, namePrefix: `gantry-test-${RUN_ID}` } });
}

beforeAll(async () => {
  const info = await sh('docker', ['info', '--format', '{{.ServerVersion}}'], 30_000);
  if (info.code !== 0) throw new Error(`no Docker engine answers (run: bash scripts/setup.sh): ${info.out.trim()}`);
  const build = await sh('bash', [path.join(ROOT, 'test/images/build.sh')]);
  if (build.code !== 0) throw new Error(`test/images/build.sh failed:\n${build.out}`);
  dataRoot = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-rt-data-'));
  workDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-rt-work-'));
  runtime = newRuntime();
  watcher = new EventWatcher({ docker, scopeLabels: SCOPE });
  watcher.on('state', (s) => observed.push(s));
  await watcher.start();
});

afterAll(async () => {
  runtime?.close();
  watcher?.stop();
  const list = await docker.listContainers({ all: true, filters: { label: [`gantry.test.run=${RUN_ID}`] } }).catch(() => []);
  for (const c of list) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
  if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('agent runtime (real Docker)', () => {
  const main = () => mainSpec;
  let mainSpec: ContainerSpec;
  let con: ServerConsole;
  let startedAt: string | undefined;

  it('ensureImage: a present image is used as is; an absent one fails offline with a clear error', async () => {
    mainSpec = serverSpec('main');
    con = runtime.console(mainSpec.serverUid);
    expect(await runtime.ensureImage(IMAGE)).toEqual({ pulled: false });
    const err = await runtime.ensureImage(`gantry-test/absent-${RUN_ID}:0`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageUnavailableError);
    expect((err as Error).message).toMatch(new RegExp(`^image "gantry-test/absent-${RUN_ID}:0" is not present on this node and could not be pulled: .+`));
  });

  it('install: runs the script in a hardened one-off container with the data dir mounted, streams its output, removes it', async () => {
    const lines: string[] = [];
    const ok = await runtime.install(
      main(),
      { image: IMAGE, script: 'echo "installing in $(pwd) as $(id -u)"\necho yes > /mnt/server/installed\necho "to stderr" >&2\ngrep CapEff /proc/self/status\n' },
      { onLine: (stream, line) => lines.push(`${stream}: ${line}`) },
    );
    expect(ok.exitCode).toBe(0);
    expect(ok.timedOut).toBe(false);
    expect(lines).toContain('stdout: installing in /mnt/server as 0');
    expect(lines).toContain('stderr: to stderr');
    expect(lines).toContain('system: [Gantry] install finished with exit code 0');
    // CapDrop ALL + 7 caps: CHOWN(0) DAC_OVERRIDE(1) FOWNER(3) KILL(5) SETGID(6) SETUID(7) NET_BIND_SERVICE(10) = 0x4eb
    expect(lines).toContain('stdout: CapEff:\t00000000000004eb');
    expect(await readFile(path.join(main().dataDir, 'installed'), 'utf8')).toBe('yes\n');
    expect(con.recent().some((l) => l.line === 'installing in /mnt/server as 0')).toBe(true);

    const failed = await runtime.install(main(), { image: IMAGE, script: 'echo failing\nexit 5\n' });
    expect(failed.exitCode).toBe(5);
    const left = await docker.listContainers({ all: true, filters: { label: [`gantry.test.run=${RUN_ID}`, 'gantry.dev/role=install'] } });
    expect(left).toEqual([]);
  });

  it('create → start: the console is attached before start, so the FIRST boot line is captured; ready line seen', async () => {
    const r = await runtime.create(main());
    expect(r.created).toBe(true);
    expect(await runtime.create(main())).toEqual({ containerId: r.containerId, created: false }); // idempotent
    const before = lastSeq(con);
    await runtime.start(main().serverUid);
    await waitLine(con, /^Done! server ready$/, before);
    const boot = con.recent().filter((l) => l.seq > before && l.stream === 'stdout');
    expect(boot[0].line).toBe('[boot] gantry test server v1');
    expect(boot.map((l) => l.line)).toContain('[boot] installed=yes');
    const st = await until('running observed via events', () => watcher.get(main().serverUid)?.state === 'running' && watcher.get(main().serverUid));
    startedAt = st.startedAt;
    expect(startedAt).toBeTruthy();
    expect(st.containerId).toBe(r.containerId);
  });

  it('console: a command is echoed and written to /data/console.log', async () => {
    const before = lastSeq(con);
    await runtime.sendCommand(main().serverUid, 'say hi');
    await waitLine(con, /^> say hi$/, before);
    await waitLine(con, /^\[say\] hi$/, before);
    expect(await readFile(path.join(main().dataDir, 'console.log'), 'utf8')).toContain('say hi\n');
  });

  it('the published port answers from the host', async () => {
    const o = (await runtime.inspect(main().serverUid))!;
    const tcp = o.ports.find((p) => p.protocol === 'TCP' && p.containerPort === 25565)!;
    expect(tcp.hostIp).toBe('127.0.0.1');
    expect(tcp.hostPort).toBeGreaterThan(0);
    expect(o.ports.some((p) => p.protocol === 'UDP' && p.hostPort > 0)).toBe(true);
    const answer = await tcpGet(tcp.hostPort);
    expect(answer).toMatch(/^HTTP\/1\.[01] 200/);
    expect(answer).toContain(`motd=agent runtime ${RUN_ID}`);
  });

  it('limits and hardening are visible in docker inspect', async () => {
    const info = await docker.getContainer((await runtime.inspect(main().serverUid))!.containerId).inspect();
    const hc = info.HostConfig;
    expect(hc.Memory).toBe(128 * 1024 * 1024);
    expect(hc.MemorySwap).toBe(128 * 1024 * 1024);
    expect(hc.NanoCpus).toBe(1e9);
    expect(hc.PidsLimit).toBe(64);
    expect(hc.Privileged).toBe(false);
    expect(hc.CapDrop).toEqual(['ALL']);
    expect(hc.CapAdd).toEqual(['CHOWN', 'SETUID', 'SETGID', 'DAC_OVERRIDE', 'FOWNER', 'KILL', 'NET_BIND_SERVICE']);
    expect(hc.SecurityOpt).toEqual(['no-new-privileges:true']);
    expect(hc.Tmpfs).toEqual({ '/tmp': 'rw,exec,nosuid,nodev,size=64m,mode=1777' });
    expect(hc.RestartPolicy?.Name).toBe('no');
    expect(info.Config.Labels).toMatchObject({ 'gantry.test': '1', 'gantry.dev/server-uid': main().serverUid, 'gantry.dev/server-name': 'main', 'gantry.dev/namespace': 'test' });
    expect(info.Config.Labels['gantry.dev/spec-hash']).toMatch(/^[0-9a-f]{16}$/);
    expect(info.Config.OpenStdin).toBe(true);
    expect(info.Config.StdinOnce).toBe(false);
    expect(info.Config.Tty).toBe(false);
    expect(info.Mounts.find((m) => m.Destination === '/data')?.Source).toBe(main().dataDir);
  });

  it('stats: CPU % and memory non-zero for a burning container, disk usage of the data dir', async () => {
    const before = lastSeq(con);
    await runtime.sendCommand(main().serverUid, 'burn');
    await waitLine(con, /^\[burn\] started 1 busy loop\(s\)$/, before);
    const sampler = new StatsSampler({ docker, targets: () => [], onSample: () => {} });
    await sampler.measureDisk(main().serverUid, main().dataDir);
    const target = { uid: main().serverUid, containerId: watcher.get(main().serverUid)!.containerId, dataDir: main().dataDir, diskMb: main().diskMb };
    const s = await until('a sample with CPU > 0', async () => {
      const x = await sampler.sampleOne(target);
      return x && x.cpuPercent > 0 ? x : undefined;
    });
    expect(s.memoryBytes).toBeGreaterThan(0);
    expect(s.memoryLimitBytes).toBe(128 * 1024 * 1024);
    expect(s.pids).toBeGreaterThan(1);
    expect(s.disk!.bytes).toBeGreaterThan(0);
    expect(s.overDiskLimit).toBe(false);
    await runtime.sendCommand(main().serverUid, 'unburn');
    await waitLine(con, /^\[burn\] stopped$/, before);
  });

  it('health report: node, Docker and our containers', async () => {
    const h = await new HealthReporter({ docker, dataRoot, scopeLabels: SCOPE }).report();
    expect(h.docker.version).toMatch(/^\d+\.\d+/);
    expect(h.containers.gantry).toBe(1);
    expect(h.containers.gantryRunning).toBe(1);
    expect(h.memory.totalBytes).toBeGreaterThan(0);
    expect(h.disk!.totalBytes).toBeGreaterThan(0);
    expect(h.cpu.cores).toBeGreaterThan(0);
  });

  it('a second runtime (agent restart) adopts the running container without restarting it, and gets its console', async () => {
    const second = newRuntime();
    try {
      const adopted = await second.adopt();
      const mine = adopted.find((o) => o.uid === main().serverUid)!;
      expect(mine.state).toBe('running');
      expect(mine.startedAt).toBe(startedAt);
      const con2 = second.console(main().serverUid);
      expect(con2.attached).toBe(true);
      await second.sendCommand(main().serverUid, 'say adopted');
      await waitLine(con2, /^\[say\] adopted$/);
      const info = await docker.getContainer(mine.containerId).inspect();
      expect(info.State.StartedAt).toBe(startedAt);
      expect(info.State.Running).toBe(true);
    } finally {
      second.close();
    }
    // the first runtime's console still works after the second detached
    const before = lastSeq(con);
    await runtime.sendCommand(main().serverUid, 'say still here');
    await waitLine(con, /^\[say\] still here$/, before);
  });

  it('throttle: past the cap lines are dropped and ONE system line says how many', async () => {
    // A window far longer than the test: exactly the first 20 lines pass, everything after is dropped
    // and counted; reconfiguring the throttle reports the pending count at once.
    con.setThrottle({ maxLines: 20, intervalMs: 10 * 60_000 });
    const before = lastSeq(con);
    const dropped0 = con.droppedTotal;
    try {
      await runtime.sendCommand(main().serverUid, 'spam 300');
      await runtime.sendCommand(main().serverUid, 'say spam-done');
      // '> spam 300' + 300 spam lines + '> say spam-done' + '[say] spam-done' = 303 lines, 20 pass
      await until('all 283 excess lines dropped', () => con.droppedTotal - dropped0 === 283);
      const passed = con.recent().filter((l) => l.seq > before);
      expect(passed).toHaveLength(20);
      expect(passed[0].line).toBe('> spam 300');
      expect(passed[19].line).toBe('[spam] line 19 of 300');
    } finally {
      con.setThrottle(false);
    }
    const notices = con.recent().filter((l) => l.seq > before && l.stream === 'system');
    expect(notices.map((l) => l.line)).toEqual(['[Gantry] output throttled: 283 lines dropped']);
  });

  it('graceful stop: the template stop command, exit 0, /data/saved written', async () => {
    const r = await runtime.stop(main().serverUid);
    expect(r).toEqual({ exitCode: 0, killed: false, alreadyStopped: false });
    expect(existsSync(path.join(main().dataDir, 'saved'))).toBe(true);
    expect(existsSync(path.join(main().dataDir, 'signalled'))).toBe(false);
    await until('exited observed', () => watcher.get(main().serverUid)?.state === 'exited');
    expect(watcher.get(main().serverUid)!.exitCode).toBe(0);
    expect(await runtime.stop(main().serverUid)).toMatchObject({ alreadyStopped: true, exitCode: 0 });
  });

  it('restart after a stop re-attaches before start (boot captured again); kill gives 137', async () => {
    const before = lastSeq(con);
    await runtime.start(main().serverUid);
    await waitLine(con, /^Done! server ready$/, before);
    expect(con.recent().filter((l) => l.seq > before && l.stream === 'stdout')[0].line).toBe('[boot] gantry test server v1');
    expect(await runtime.kill(main().serverUid)).toBe(137);
    await until('kill observed', () => {
      const s = watcher.get(main().serverUid);
      return s?.state === 'exited' && s.exitCode === 137;
    });
  });

  it('`crash` gives exit code 3, observed through the events stream', async () => {
    const before = lastSeq(con);
    await runtime.start(main().serverUid);
    await waitLine(con, /^Done! server ready$/, before);
    const from = observed.length;
    await runtime.sendCommand(main().serverUid, 'crash');
    const died = await until('exit 3 observed', () => observed.slice(from).find((s) => s.uid === main().serverUid && s.state === 'exited'));
    expect(died.exitCode).toBe(3);
    expect(died.oomKilled).toBe(false);
    expect(died.finishedAt).toBeTruthy();
  });

  it('remove: refuses a data dir outside the data root, then removes container and data', async () => {
    await expect(runtime.remove(main().serverUid, { removeData: true, dataDir: '/etc' })).rejects.toThrow(/not inside the data root/);
    expect(await runtime.inspect(main().serverUid)).toBeDefined(); // nothing touched
    expect(await runtime.remove(main().serverUid, { removeData: true })).toEqual({ removed: true, dataRemoved: true });
    expect(existsSync(main().dataDir)).toBe(false);
    expect(await runtime.inspect(main().serverUid)).toBeUndefined();
    await until('removed observed', () => watcher.get(main().serverUid)?.state === 'removed');
  });

  it('disk limit refuses a start; signal stop; stop escalates to SIGKILL after the timeout; a tiny memory limit gets OOM-killed', async () => {
    const spec = serverSpec('oom', { memoryMb: 64, diskMb: 1, ports: [], stopTimeoutSeconds: 1, stop: { type: 'command', value: 'say not stopping' } });
    const c = runtime.console(spec.serverUid);
    await runtime.create(spec);
    // over diskMb: refused, with a system line in the console
    await writeFile(path.join(spec.dataDir, 'big.bin'), Buffer.alloc(2 * 1024 * 1024, 1));
    await expect(runtime.start(spec.serverUid)).rejects.toBeInstanceOf(DiskLimitError);
    expect(c.recent().at(-1)!.line).toBe('[Gantry] not starting: disk usage over the 1 MiB limit');
    expect((await runtime.inspect(spec.serverUid))!.state).toBe('created');
    await rm(path.join(spec.dataDir, 'big.bin'));

    // a stop signal given at stop time (the test image exits 0 on SIGTERM)
    let before = lastSeq(c);
    await runtime.start(spec.serverUid);
    await waitLine(c, /^Done! server ready$/, before);
    expect(await runtime.stop(spec.serverUid, { stop: { type: 'signal', value: 'SIGTERM' } })).toEqual({ exitCode: 0, killed: false, alreadyStopped: false });
    expect(await readFile(path.join(spec.dataDir, 'signalled'), 'utf8')).toBe('TERM\n');

    // the created-with stop command is ignored by the server: SIGKILL after stopTimeoutSeconds
    before = lastSeq(c);
    await runtime.start(spec.serverUid);
    await waitLine(c, /^Done! server ready$/, before);
    const r = await runtime.stop(spec.serverUid);
    expect(r).toEqual({ exitCode: 137, killed: true, alreadyStopped: false });
    expect(c.recent().some((l) => l.stream === 'system' && /did not stop within 1s: killing it/.test(l.line))).toBe(true);

    before = lastSeq(c);
    await runtime.start(spec.serverUid);
    await waitLine(c, /^Done! server ready$/, before);
    await runtime.sendCommand(spec.serverUid, 'oom');
    await waitLine(c, /^\[oom\] allocating memory until killed/, before);
    const st = await until('OOM kill observed', () => {
      const s = watcher.get(spec.serverUid);
      return s?.state === 'exited' && s.oomKilled && s;
    });
    expect(st.exitCode).toBe(137);
    await runtime.remove(spec.serverUid, { removeData: true });
  });
});
