// The node agent against Docker's own tools, measured in the same run on the same engine.
//
//   node dist/bench/agent.js     (BENCH_CONTAINERS=10 BENCH_SPAM_LINES=50000 BENCH_STARTS=10 for a quick run)
//
// The agent runs as its own process (`agentCommand`, enrolled with a token) and the bench process plays
// the controller (test/unit/agent-connection.fake-controller.ts) over a real WebSocket, so every agent
// figure includes the protocol: request frame → dispatch → Docker → response frame.
//
//   (a) start latency of a created container: the agent's `start` RPC vs `docker start` (CLI) on a
//       container of the same spec; median of BENCH_STARTS (20) each, interleaved, reset by a kill.
//   (b) console throughput with the throttle off: `spam N` in one container, lines/s and lines lost at the
//       controller end of the socket, vs `docker attach` and `docker logs -f` reading the same container
//       at the same time.
//   (c) agent RSS idle and with BENCH_CONTAINERS (50) running containers (consoles attached, stats
//       sampled), vs the RSS of an idle Node process (`node -e`, no TypeScript loader): the floor. The agent runs
//       compiled (dist/), as `gantry agent` does.
// Every container carries gantry.test=1 and this run's label and is removed at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import Docker from 'dockerode';
import type { ResponseMessage } from '../agent/protocol.ts';
import type { ContainerSpec } from '../agent/runtime/spec.ts';
import { FakeController, grantEnrollment, until } from '../test/unit/agent-connection.fake-controller.ts';
import { fmt, median, num, ratio, sh, runIfMain } from './lib.ts';
import { PACKAGE_ROOT as ROOT, compiledPath } from '../lib/package-files.ts';

const IMAGE = 'gantry-test/gameserver:1';



async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

/** Samples a process's RSS `n` times `everyMs` apart; the median. */
async function sampleRss(pid: number, n = 5, everyMs = 1000): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    xs.push(await rssOf(pid));
    if (i < n - 1) await new Promise((r) => setTimeout(r, everyMs));
  }
  return median(xs);
}

function spawnNode(script: string, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, GANTRY_LOG_LEVEL: 'warn', ...env },
  });
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** Counts the `[spam] line i of N` lines one reader receives: total, distinct, out of order, last seen. */
class SpamTracker {
  count = 0;
  unique = 0;
  outOfOrder = 0;
  lastAt = 0;
  done = false;
  sawMarker = false;
  private prev = 0;
  private readonly seen: Uint8Array;
  private readonly re: RegExp;

  constructor(readonly total: number, private readonly marker: string) {
    this.seen = new Uint8Array(total + 1);
    this.re = new RegExp(`^\\[spam\\] line (\\d+) of ${total}$`);
  }

  line(l: string): void {
    const m = this.re.exec(l);
    if (!m) {
      if (l.includes(this.marker)) this.sawMarker = true;
      return;
    }
    const i = Number(m[1]);
    this.count++;
    if (!this.seen[i]) {
      this.seen[i] = 1;
      this.unique++;
    }
    if (i !== this.prev + 1) this.outOfOrder++;
    this.prev = i;
    if (i === this.total) {
      this.lastAt = performance.now();
      this.done = true;
    }
  }
}

/** A reader of a docker CLI command's stdout, line by line. */
function cliReader(args: string[], tracker: SpamTracker) {
  const child = spawn('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  createInterface({ input: child.stdout! }).on('line', (l) => tracker.line(l));
  child.stderr!.on('data', () => {});
  return { child, tracker };
}

export async function run(): Promise<void> {
  const CONTAINERS = num('BENCH_CONTAINERS', 50);
  const STARTS = num('BENCH_STARTS', 20);
  const SPAM = num('BENCH_SPAM_LINES', 100_000);
  const RUN_ID = randomUUID().slice(0, 8);
  const SCOPE = { 'gantry.test': '1', 'gantry.bench.run': RUN_ID };
  const docker = new Docker();

  const info = await sh('docker', ['info', '--format', '{{.ServerVersion}}'], 30_000);
  if (info.code !== 0) throw new Error(`no Docker engine answers (run: bash scripts/setup.sh): ${info.out.trim()}`);
  const build = await sh('bash', [path.join(ROOT, 'test/images/build.sh')]);
  if (build.code !== 0) throw new Error(`test/images/build.sh failed:\n${build.out}`);

  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-agent-'));
  const fc = await new FakeController().listen();
  fc.keepConsole = false;
  fc.welcome = { ...fc.welcome, heartbeatIntervalMs: 5000, statsIntervalMs: 5000, consoleThrottle: false };
  const token = `bench-${RUN_ID}`;
  grantEnrollment(fc, token, `cred-bench-${RUN_ID}`);

  const agentScript = [
    `import { agentCommand } from ${JSON.stringify(compiledPath('bin/commands/agent.ts'))};`,
    `process.exitCode = await agentCommand({ panel: ${JSON.stringify(fc.url)}, token: ${JSON.stringify(token)}, dataDir: ${JSON.stringify(dataDir)},`,
    `  scopeLabels: ${JSON.stringify(SCOPE)}, namePrefix: ${JSON.stringify(`gantry-bench-${RUN_ID}`)} });`,
  ].join('\n');
  const agent = spawnNode(agentScript);
  let agentErr = '';
  agent.stderr!.on('data', (d: Buffer) => {
    agentErr += d.toString();
    if (agentErr.length > 100_000) agentErr = agentErr.slice(-50_000);
  });
  const floor = spawnNode('setInterval(() => {}, 60_000);');

  const ok = (r: ResponseMessage): unknown => {
    if (!r.ok) throw new Error(`RPC failed: ${r.error.code}: ${r.error.message}`);
    return r.result;
  };
  const spec = (name: string): ContainerSpec => ({
    serverUid: randomUUID(),
    name,
    namespace: 'bench',
    image: IMAGE,
    command: ['/gameserver.sh'],
    env: { SERVER_PORT: 'none' },
    dataDir: `bench/${name}`,
    dataPath: '/data',
    stop: { type: 'signal', value: 'SIGTERM' },
    stopTimeoutSeconds: 10,
  });
  const idOf = async (uid: string) => (await docker.listContainers({ all: true, filters: { label: [`gantry.dev/server-uid=${uid}`] } }))[0].Id;
  const killAndWait = async (id: string) => {
    const c = docker.getContainer(id);
    await c.kill({ signal: 'SIGKILL' }).catch(() => {});
    await c.wait({ condition: 'not-running' }).catch(() => {});
  };
  const readyLines = new Map<string, number>();
  fc.onMessage = (m) => {
    if (m.type !== 'console') return;
    for (const l of m.lines) if (l.line === 'Done! server ready') readyLines.set(m.uid, (readyLines.get(m.uid) ?? 0) + 1);
  };

  try {
    await until('agent connected', () => fc.ready, 60_000);
    // ---- (c, idle) ---------------------------------------------------------------------------------
    await new Promise((r) => setTimeout(r, 5000));
    const [idleRss, floorRss] = await Promise.all([sampleRss(agent.pid!), sampleRss(floor.pid!)]);

    // ---- (a) start latency -------------------------------------------------------------------------
    const a = spec('start-agent');
    const b = spec('start-cli');
    ok(await fc.request('create', { spec: a }));
    ok(await fc.request('create', { spec: b }));
    const aId = await idOf(a.serverUid);
    const bId = await idOf(b.serverUid);
    const viaAgent: number[] = [];
    const viaCli: number[] = [];
    const startAgent = async () => {
      const t0 = performance.now();
      ok(await fc.request('start', { uid: a.serverUid }));
      viaAgent.push(performance.now() - t0);
    };
    const startCli = async () => {
      const t0 = performance.now();
      const r = await sh('docker', ['start', bId]);
      if (r.code !== 0) throw new Error(`docker start failed: ${r.out}`);
      viaCli.push(performance.now() - t0);
    };
    await startAgent(); // warm-up (not counted)
    await startCli();
    viaAgent.length = 0;
    viaCli.length = 0;
    await killAndWait(aId);
    await killAndWait(bId);
    for (let i = 0; i < STARTS; i++) {
      if (i % 2 === 0) {
        await startAgent();
        await startCli();
      } else {
        await startCli();
        await startAgent();
      }
      await killAndWait(aId);
      await killAndWait(bId);
    }
    ok(await fc.request('remove', { uid: a.serverUid, removeData: true }));
    ok(await fc.request('remove', { uid: b.serverUid, removeData: true }));

    // ---- (b) console throughput --------------------------------------------------------------------
    const t = spec('spam');
    ok(await fc.request('create', { spec: t }));
    ok(await fc.request('start', { uid: t.serverUid }));
    await until('spam server ready', () => readyLines.get(t.serverUid), 60_000);
    const tId = await idOf(t.serverUid);
    const marker = `marker-${RUN_ID}`;
    const viaAgentSpam = new SpamTracker(SPAM, marker);
    fc.onMessage = (m) => {
      if (m.type !== 'console' || m.uid !== t.serverUid) return;
      for (const l of m.lines) viaAgentSpam.line(l.line);
    };
    const attachReader = cliReader(['attach', '--no-stdin', '--sig-proxy=false', tId], new SpamTracker(SPAM, marker));
    const logsReader = cliReader(['logs', '-f', '--tail', '0', tId], new SpamTracker(SPAM, marker));
    const attach = attachReader.tracker;
    const logs = logsReader.tracker;
    // Everyone is reading once everyone saw the marker.
    for (let i = 0; !(viaAgentSpam.sawMarker && attach.sawMarker && logs.sawMarker); i++) {
      ok(await fc.request('sendCommand', { uid: t.serverUid, line: `say ${marker}` }));
      await new Promise((r) => setTimeout(r, 300));
      if (i > 100) throw new Error('the docker attach / logs readers never saw the marker line');
    }
    const t0 = performance.now();
    ok(await fc.request('sendCommand', { uid: t.serverUid, line: `spam ${SPAM}` }));
    await until('the last spam line at every reader (or a 30 s silence)', async () => {
      const all = viaAgentSpam.done && attach.done && logs.done;
      if (all) return true;
      const before = viaAgentSpam.count + attach.count + logs.count;
      await new Promise((r) => setTimeout(r, 1000));
      // stop waiting when a reader will never finish (it lost the last line): nothing moved for a while
      return performance.now() - t0 > 30_000 && before === viaAgentSpam.count + attach.count + logs.count;
    }, 600_000);
    const secs = (r: SpamTracker) => ((r.done ? r.lastAt : performance.now()) - t0) / 1000;
    const rate = (r: SpamTracker) => r.unique / secs(r);
    await stopChild(attachReader.child);
    await stopChild(logsReader.child);
    ok(await fc.request('remove', { uid: t.serverUid, removeData: true }));

    // ---- (c, loaded) ---------------------------------------------------------------------------------
    fc.onMessage = (m) => {
      if (m.type !== 'console') return;
      for (const l of m.lines) if (l.line === 'Done! server ready') readyLines.set(m.uid, (readyLines.get(m.uid) ?? 0) + 1);
    };
    const many = Array.from({ length: CONTAINERS }, (_, i) => spec(`rss-${i}`));
    const tMany = performance.now();
    const queue = [...many];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let s = queue.shift(); s; s = queue.shift()) {
          ok(await fc.request('create', { spec: s }));
          ok(await fc.request('start', { uid: s.serverUid }));
        }
      }),
    );
    await until('every server ready', () => many.every((s) => readyLines.get(s.serverUid)), 300_000);
    const manySecs = (performance.now() - tMany) / 1000;
    await new Promise((r) => setTimeout(r, 6000)); // a stats round (statsIntervalMs 5 s) over every container
    const loadedRss = await sampleRss(agent.pid!);
    const statsSeen = fc.all('stats').at(-1)?.samples.length ?? 0;

    // ---- report -------------------------------------------------------------------------------------
    const mA = median(viaAgent);
    const mC = median(viaCli);
    console.log(`agent bench (run ${RUN_ID}; Docker ${info.out.trim()}; ${os.cpus().length} cores)`);
    console.log('');
    console.log(`(a) start latency of a created container, median of ${STARTS}`);
    console.log(`    agent RPC start (socket → dispatch → Docker → response)  ${fmt(mA, 1)} ms   (min ${fmt(Math.min(...viaAgent), 1)}, max ${fmt(Math.max(...viaAgent), 1)})`);
    console.log(`    docker start CLI (reference)                             ${fmt(mC, 1)} ms   (min ${fmt(Math.min(...viaCli), 1)}, max ${fmt(Math.max(...viaCli), 1)})`);
    console.log(`    ratio agent / CLI                                         ${ratio(mA, mC)}`);
    console.log('');
    console.log(`(b) console throughput, spam ${fmt(SPAM)} lines, throttle off, three readers at once`);
    const row = (name: string, r: SpamTracker) =>
      console.log(
        `    ${name.padEnd(40)} ${fmt(rate(r)).padStart(9)} lines/s   lost ${fmt(SPAM - r.unique)}, duplicated ${fmt(r.count - r.unique)}, out of order ${fmt(r.outOfOrder)}${r.done ? '' : '  (last line never arrived)'}`,
      );
    row('agent → controller socket', viaAgentSpam);
    row('docker attach (reference)', attach);
    row('docker logs -f (reference)', logs);
    console.log(`    ratio agent / docker attach               ${ratio(rate(viaAgentSpam), rate(attach))}`);
    console.log(`    ratio agent / docker logs -f              ${ratio(rate(viaAgentSpam), rate(logs))}`);
    console.log(`    console frames ${fmt(fc.consoleFrames)} for ${fmt(fc.consoleLineCount)} lines so far (${fmt(fc.consoleLineCount / Math.max(1, fc.consoleFrames), 1)} lines/frame)`);
    console.log(`    (all three readers are bounded by the producer, a busybox sh loop; the ratio shows whether the agent keeps up)`);
    console.log('');
    console.log('(c) agent RSS (median of 5 samples, 1 s apart)');
    console.log(`    idle Node process, node -e (floor)                        ${mib(floorRss)}`);
    console.log(`    agent idle, connected, 0 containers                       ${mib(idleRss)}   ${ratio(idleRss, floorRss)} the floor`);
    console.log(`    agent with ${String(CONTAINERS).padEnd(3)} running containers (attached, stats)  ${mib(loadedRss)}   ${ratio(loadedRss, floorRss)} the floor, ${ratio(loadedRss, idleRss)} idle; +${fmt((loadedRss - idleRss) / CONTAINERS / 1024)} KiB per container`);
    console.log(`    (${CONTAINERS} created + started through the agent in ${fmt(manySecs, 1)} s; last stats message had ${statsSeen} samples)`);
  } catch (err) {
    console.error(`agent bench failed: ${(err as Error).message}\n--- agent stderr (tail) ---\n${agentErr.slice(-4000)}`);
    throw err;
  } finally {
    const code = await stopChild(agent);
    if (code !== 0) console.error(`agent exited with ${code}\n${agentErr.slice(-2000)}`);
    await stopChild(floor, 'SIGKILL');
    await fc.close();
    const left = await docker.listContainers({ all: true, filters: { label: [`gantry.bench.run=${RUN_ID}`] } }).catch(() => []);
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})));
    await rm(dataDir, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
