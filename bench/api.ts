// The API under load, each figure beside a floor measured in the same run.
//
//   node dist/bench/api.js     (BENCH_SERVERS=100 BENCH_CONNECTIONS=50 BENCH_SECONDS=10 BENCH_WS_CLIENTS=100
//                             BENCH_WS_RATE=5000 BENCH_WS_SECONDS=5)
//
//   (a) Authenticated `GET /api/servers?limit=100` (or `GET /api/auth/me` while that route does not exist)
//       with BENCH_SERVERS servers in the store, autocannon with BENCH_CONNECTIONS connections for
//       BENCH_SECONDS: req/s and p99, vs the same response bytes served from memory by a bare route
//       of the same HTTP server (the floor: Node + Hono's adapter, no auth, no store, no JSON).
//   (b) WebSocket fan-out: one server printing BENCH_WS_RATE lines/s (emitted as the agent hub's
//       'console' event, in 10 ms batches like the agent's; no Docker) to BENCH_WS_CLIENTS clients
//       subscribed on /ws: delivered lines/s and latency (emit → client parsed) p50/p99, vs the same
//       lines sent by a bare `ws` server in the same process to the same number of clients.
// autocannon and the WebSocket clients run in child processes, so the measured process is alone on
// its core. Latency crosses processes: both ends read performance.timeOrigin + performance.now().
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { serve, type ServerType } from '@hono/node-server';
import { WebSocketServer, type WebSocket } from 'ws';
import { createApp } from '../api/app.ts';
import { openApiServices } from '../api/open.ts';
import { CATALYST_ROUTES } from '../api/routes/catalyst.ts';
import { ClientSockets, CLIENT_WS_PATH } from '../api/ws/client-hub.ts';
import type { ConsoleLine } from '../agent/protocol.ts';
import { AgentHub } from '../controller/hub/agent-hub.ts';
import { EventRecorder } from '../controller/events/recorder.ts';
import { seedTemplates } from '../controller/sources/seed.ts';
import { SqliteDb } from '../controller/store/sqlite-db.ts';
import { SqliteStore } from '../controller/store/sqlite-store.ts';
import { CrdRegistry } from '../crds/registry.ts';
import { createLogger } from '../lib/log.ts';
import { signInAdmin } from '../test/helpers/api.ts';
import { PACKAGE_ROOT as ROOT } from '../lib/package-files.ts';
import { fmt, num, ratio, runIfMain } from './lib.ts';


interface Cannon {
  rps: number;
  p99: number;
  non2xx: number;
  errors: number;
}

/** autocannon in a child process (its JSON result). */
function cannon(url: string, connections: number, seconds: number, headers: Record<string, string>): Promise<Cannon> {
  const args = [path.join(ROOT, 'node_modules/autocannon/autocannon.js'), '-c', String(connections), '-d', String(seconds), '-j'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('exit', (code) => {
      try {
        const r = JSON.parse(out) as { requests: { average: number }; latency: { p99: number }; non2xx: number; errors: number };
        resolve({ rps: r.requests.average, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors });
      } catch {
        reject(new Error(`autocannon exited ${code}: ${err.slice(-500)}`));
      }
    });
  });
}

// The WebSocket clients' process: N sockets, each records lines and latency; "go" → "result JSON".
// A full `ws` client in JavaScript decodes ~60k messages/s on this machine, far below 5,000 lines/s
// × 100 clients, so it would measure itself. These clients speak the protocol on raw TCP instead:
// the handshake, one masked subscribe frame, then frames are counted by walking their headers;
// every 16th log line (and every other message) is decoded.
const CLIENT_SCRIPT = `
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
const [url, n, serverId] = [new URL(process.env.WS_URL), Number(process.env.WS_CLIENTS), process.env.WS_SERVER];
const now = () => performance.timeOrigin + performance.now();
const LOG = Buffer.from('{"type":"server_log"');
let received = 0, dropped = 0, first = 0, last = 0;
const lat = [];
const socks = [];
function frame(text) {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const head = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 255]);
  for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, payload]);
}
function client() {
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(url.port), url.hostname);
    socks.push(sock);
    sock.on('error', reject);
    let buf = Buffer.alloc(0);
    let open = false;
    const onMessage = (payload) => {
      if (payload.length > LOG.length && payload.compare(LOG, 0, LOG.length, 0, LOG.length) === 0) {
        const t = now();
        received++;
        if (!first) first = t;
        last = t;
        if ((received & 15) === 0) {
          const m = JSON.parse(payload.toString());
          lat.push(t - Number(m.data.slice(0, m.data.indexOf(' '))));
        }
        return;
      }
      const m = JSON.parse(payload.toString());
      if (m.type === 'dropped') dropped += m.count;
      else if (m.type === 'subscribed') resolve();
    };
    sock.on('data', (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (!open) {
        const end = buf.indexOf('\\r\\n\\r\\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString();
        if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(head.split('\\r\\n')[0]));
        open = true;
        buf = buf.subarray(end + 4);
        if (serverId) sock.write(frame(JSON.stringify({ type: 'subscribe', serverId, events: ['server_log'] })));
        else resolve();
      }
      let off = 0;
      while (buf.length - off >= 2) {
        const op = buf[off] & 15;
        let len = buf[off + 1] & 127;
        let hl = 2;
        if (len === 126) { if (buf.length - off < 4) break; len = buf.readUInt16BE(off + 2); hl = 4; }
        else if (len === 127) { if (buf.length - off < 10) break; len = Number(buf.readBigUInt64BE(off + 2)); hl = 10; }
        if (buf.length - off < hl + len) break;
        if (op === 1) onMessage(buf.subarray(off + hl, off + hl + len));
        off += hl + len;
      }
      buf = off === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
    });
    sock.write('GET ' + url.pathname + url.search + ' HTTP/1.1\\r\\nHost: ' + url.host + '\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Version: 13\\r\\nSec-WebSocket-Key: ' + randomBytes(16).toString('base64') + '\\r\\n\\r\\n');
  });
}
await Promise.all(Array.from({ length: n }, client));
console.log('ready');
createInterface({ input: process.stdin }).on('line', () => {
  lat.sort((a, b) => a - b);
  const q = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] : NaN;
  console.log(JSON.stringify({ received, dropped, seconds: (last - first) / 1000, p50: q(0.5), p99: q(0.99) }));
  for (const s of socks) s.destroy();
  process.exit(0);
});
`;

interface FanoutResult {
  emitted: number;
  /** Time spent inside emit (serialising and writing to every client), ms. */
  emitMs: number;
  received: number;
  dropped: number;
  seconds: number;
  p50: number;
  p99: number;
}

/** Starts the clients, emits `rate` lines/s for `seconds` through `emit`, collects the clients' figures. */
async function fanout(url: string, serverId: string | undefined, clients: number, rate: number, seconds: number, emit: (lines: ConsoleLine[]) => void): Promise<FanoutResult> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CLIENT_SCRIPT], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, WS_URL: url, WS_CLIENTS: String(clients), WS_SERVER: serverId ?? '' },
  });
  const lines = createInterface({ input: child.stdout! });
  const next = () => new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`client process exited ${code}`)));
  });
  if ((await next()) !== 'ready') throw new Error('client process did not get ready');
  const pad = 'x'.repeat(60);
  let emitted = 0;
  let emitMs = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    // Catch up on the schedule each tick: the rate holds even when a tick comes late.
    const timer = setInterval(() => {
      const elapsed = performance.now() - start;
      const due = Math.min(Math.floor((elapsed / 1000) * rate), rate * seconds) - emitted;
      if (due > 0) {
        const at = performance.timeOrigin + performance.now();
        const batch: ConsoleLine[] = [];
        for (let i = 0; i < due; i++) batch.push({ stream: 'stdout', line: `${at.toFixed(3)} [spam] line ${emitted + i} ${pad}`, ts: Date.now() });
        emitted += due;
        const t0 = performance.now();
        emit(batch);
        emitMs += performance.now() - t0;
      }
      if (emitted >= rate * seconds) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
  await new Promise((r) => setTimeout(r, 1500)); // let the tail arrive
  child.stdin!.write('go\n');
  const r = JSON.parse(await next()) as Omit<FanoutResult, 'emitted' | 'emitMs'>;
  return { emitted, emitMs, ...r };
}

export async function run(): Promise<void> {
  const SERVERS = num('BENCH_SERVERS', 100);
  const CONNS = num('BENCH_CONNECTIONS', 50);
  const SECONDS = num('BENCH_SECONDS', 10);
  const WS_CLIENTS = num('BENCH_WS_CLIENTS', 100);
  const WS_RATE = num('BENCH_WS_RATE', 5000);
  const WS_SECONDS = num('BENCH_WS_SECONDS', 5);

  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-api-'));
  const log = createLogger({ bench: 'api' }, 'error');
  const registry = await CrdRegistry.load();
  const db = await SqliteDb.open(path.join(dir, 'gantry.db'));
  const store = await SqliteStore.open({ db, schema: registry, log });
  const events = await EventRecorder.open({ db });
  await seedTemplates(store, path.join(ROOT, 'manifests/examples'), log);
  const hub = new AgentHub({ auth: { authenticate: async () => ({ ok: false as const, reason: 'bench: no agents' }) } as never, log });
  const svc = await openApiServices({ db, secret: randomBytes(32), store, registry, events, log, hub });
  const admin = await signInAdmin(svc);
  for (let i = 0; i < SERVERS; i++) {
    await store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: `srv-${String(i).padStart(3, '0')}`, namespace: 'default' }, spec: { templateRef: 'testgame', owner: admin.userId, state: 'Stopped' } });
  }
  const sockets = new ClientSockets(svc, { log, limits: { maxConnectionsPerUser: 10_000, maxConnections: 10_000 } });
  const app = createApp({ store, registry, events, log, api: svc });

  const hasServers = CATALYST_ROUTES.some((r) => r.method === 'GET' && r.path === '/api/servers');
  const target = hasServers ? '/api/servers?limit=100' : '/api/auth/me';
  let floorBody = Buffer.alloc(0);
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({
      fetch: (req, env) => (new URL(req.url).pathname === '/floor' ? new Response(floorBody, { headers: { 'content-type': 'application/json' } }) : app.fetch(req, env)),
      port: 0,
      hostname: '127.0.0.1',
    }, () => resolve(s));
  });
  server.on('upgrade', (req, socket, head) => void sockets.handleUpgrade(req, socket, head));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const res = await fetch(base + target, { headers: admin.headers });
  floorBody = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`${target}: HTTP ${res.status} ${floorBody.toString().slice(0, 200)}`);
  const count = hasServers ? ((JSON.parse(floorBody.toString()) as { data: unknown[] }).data.length) : 0;

  console.log(`(a) ${target}${hasServers ? ` (${count} of ${SERVERS} servers)` : ` (GET /api/servers not in CATALYST_ROUTES yet)`}, ${floorBody.length} bytes, ${CONNS} connections, ${SECONDS} s each`);
  // A shared machine's other work shows in every figure here; the ratios are what carry over.
  console.log(`    (load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores)`);
  const floor = await cannon(`${base}/floor`, CONNS, SECONDS, {});
  const api = await cannon(base + target, CONNS, SECONDS, admin.headers);
  if (api.non2xx || api.errors) console.log(`    WARNING: ${api.non2xx} non-2xx answers, ${api.errors} errors`);
  console.log(`    api    ${fmt(api.rps)} req/s  p99 ${fmt(api.p99)} ms`);
  console.log(`    floor  ${fmt(floor.rps)} req/s  p99 ${fmt(floor.p99)} ms   (same bytes from memory, same server)`);
  console.log(`    api/floor: throughput ${ratio(api.rps, floor.rps)}, p99 ${ratio(api.p99, floor.p99)}`);

  // (b) fan-out through /ws vs a bare ws server.
  const uid = (await store.get('GameServer', 'default', 'srv-000')).metadata.uid!;
  console.log(`(b) WebSocket fan-out: ${fmt(WS_RATE)} lines/s for ${WS_SECONDS} s to ${WS_CLIENTS} clients (hub 'console' events, no Docker)`);
  const wsUrl = `${base.replace('http', 'ws')}${CLIENT_WS_PATH}?token=${admin.token}`;
  const ours = await fanout(wsUrl, 'srv-000', WS_CLIENTS, WS_RATE, WS_SECONDS, (lines) => hub.emit('console', 'bench-node', uid, lines));

  const bare = createServer();
  const wss = new WebSocketServer({ server: bare, perMessageDeflate: false });
  const peers = new Set<WebSocket>();
  wss.on('connection', (ws) => {
    peers.add(ws);
    ws.on('close', () => peers.delete(ws));
  });
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', () => r()));
  const bareUrl = `ws://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
  const ref = await fanout(bareUrl, undefined, WS_CLIENTS, WS_RATE, WS_SECONDS, (lines) => {
    const frames = lines.map((l) => Buffer.from(JSON.stringify({ type: 'server_log', serverId: 'srv-000', stream: l.stream, data: l.line + '\n', timestamp: new Date(l.ts).toISOString() })));
    // The best a bare server does: one write per client per batch (see ClientSockets.onConsole).
    for (const p of peers) {
      const raw = (p as unknown as { _socket: import('node:net').Socket })._socket;
      raw.cork();
      for (const f of frames) p.send(f, { binary: false });
      raw.uncork();
    }
  });
  const show = (name: string, r: FanoutResult) => {
    const expected = r.emitted * WS_CLIENTS;
    console.log(`    ${name} ${fmt(r.received / Math.max(r.seconds, 1e-9))} lines/s delivered (${fmt(r.received)} of ${fmt(expected)}, ${fmt(r.dropped)} dropped as too slow)  latency p50 ${fmt(r.p50, 1)} ms  p99 ${fmt(r.p99, 1)} ms  send cost ${fmt((r.emitMs * 1000) / expected, 2)} µs per line per client`);
  };
  show('/ws ', ours);
  show('bare', ref);
  console.log(`    /ws vs bare ws: delivered ${ratio(ours.received / ours.seconds, ref.received / ref.seconds)}, p99 ${ratio(ours.p99, ref.p99)}, send cost ${ratio(ours.emitMs, ref.emitMs)}`);

  await new Promise<void>((r) => wss.close(() => r()));
  await new Promise<void>((r) => bare.close(() => r()));
  await sockets.close();
  await svc.close();
  await hub.close();
  await new Promise<void>((r) => {
    server.close(() => r());
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
  await store.close();
  await db.close();
  await rm(dir, { recursive: true, force: true });
}

runIfMain(import.meta.url, run);
