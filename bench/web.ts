// bench/web: the web panel in Debian's chromium (headless, playwright-core) against an embedded Gantry.
//
// 1. Bundle size (gzip, level 9) of web/dist: all of it, and what the first page loads (index.html and
//    the assets it links). Reference: react-dom's own production client, gzipped the same way.
// 2. Time to an interactive dashboard with BENCH_WEB_SERVERS (100) servers: a fresh browser context
//    (cold cache) opens `/` signed in, until every server row is drawn and the live socket is open.
//    Reference: the same built files from a bare node:http static server (no API, no data), until the
//    app has drawn its first screen — the cost of fetching, parsing and running the assets alone.
// 3. Console rendering: BENCH_WEB_LINES_PER_S (5,000) console lines a second for BENCH_WEB_SECONDS (5)
//    into the server page's terminal. The lines enter at the agent hub (as the agent's 10 ms batches do);
//    from there the client socket fan-out, the WebSocket, the page's live socket, the console feed and
//    xterm are the real ones. Figures: frames per second while the lines arrive (reference: the same
//    page idle), lines received by the page vs sent, `dropped` notices, and the last line on screen.
import { readdir, readFile, stat, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startEmbedded, type Embedded } from '../bin/commands/up.ts';
import type { GameServer } from '../crds/types.ts';
import type { ConsoleLine } from '../agent/protocol.ts';
import { PACKAGE_ROOT as ROOT } from '../lib/package-files.ts';
import { fmt, median, num, ratio, runIfMain, sh } from './lib.ts';
import { CHROMIUM, LAUNCH_ARGS } from '../test/helpers/browser.ts';

// Predicates below run inside the page (Playwright serialises them; CSP forbids string eval there).
// This file is typed without the DOM, hence `(globalThis as any).document`.

const DIST = path.join(ROOT, 'web', 'dist');
const gz = (b: Buffer) => gzipSync(b, { level: 9 }).length;
const kib = (n: number) => `${fmt(n / 1024, 1)} KiB`;


async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else if (!e.name.startsWith('.')) out.push(p);
  }
  return out;
}

async function bundleSize(): Promise<void> {
  const all = await files(DIST);
  let total = 0;
  for (const f of all) total += gz(await readFile(f));
  const index = await readFile(path.join(DIST, 'index.html'), 'utf8');
  const linked = [...index.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => path.join(DIST, m[1]!));
  let first = gz(Buffer.from(index));
  for (const f of linked) first += gz(await readFile(f));
  const reactDom = gz(await readFile(path.join(ROOT, 'node_modules/react-dom/cjs/react-dom-client.production.js')));
  console.log(`bundle (gzip): first page ${kib(first)} (index.html + ${linked.length} linked assets), everything ${kib(total)} in ${all.length} files`);
  console.log(`  reference react-dom client alone ${kib(reactDom)}; first page ${ratio(first, reactDom)}, everything ${ratio(total, reactDom)}`);
}

/** A plain static server of web/dist (index.html for any path without an extension), no API behind it. */
async function staticServer(): Promise<{ url: string; server: Server }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
  const server = createServer(async (req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    const file = path.join(DIST, path.extname(p) ? path.normalize(p) : 'index.html');
    try {
      const body = await readFile(file.startsWith(DIST) ? file : path.join(DIST, 'index.html'));
      res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function signedInPage(browser: Browser, g: Embedded, session: unknown): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await ctx.addInitScript(`localStorage.setItem('gantry.session', ${JSON.stringify(JSON.stringify(session))})`);
  void g;
  return ctx.newPage();
}

async function login(g: Embedded, email: string, password: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${g.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  const body = (await res.json()) as { data: Record<string, unknown> };
  return body.data;
}

export async function run(): Promise<void> {
  await stat(path.join(DIST, 'index.html')).catch(() => {
    throw new Error('web/dist is not built: run bash scripts/build-web.sh');
  });
  await bundleSize();

  const servers = num('BENCH_WEB_SERVERS', 100);
  const rounds = num('BENCH_WEB_ROUNDS', 5);
  const rate = num('BENCH_WEB_LINES_PER_S', 5000);
  const seconds = num('BENCH_WEB_SECONDS', 5);
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-bench-web-'));
  const g = await startEmbedded({ dataDir, port: 0, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples'), apiLimits: { authPerMinute: 10_000, userPerMinute: 1_000_000 } });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS });
  const stat0 = await staticServer();
  try {
    await g.api.accounts.createUser({ email: 'bench@example.test', username: 'bench', password: 'bench-password-1', roleIds: ['admin'] });
    await g.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameNode', metadata: { name: 'bench-web-node' }, spec: { address: '127.0.0.1' } });
    for (let i = 0; i < servers; i++) {
      await g.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: `bench-web-${String(i).padStart(3, '0')}`, namespace: 'default' }, spec: { templateRef: 'testgame', state: 'Stopped', displayName: `Bench ${i}` } });
    }
    const session = await login(g, 'bench@example.test', 'bench-password-1');

    // ---- time to an interactive dashboard ----
    const dash: number[] = [];
    const ref: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const page = await signedInPage(browser, g, session);
      const t0 = Date.now();
      await page.goto(`${g.url}/`, { waitUntil: 'commit' });
      await page.waitForFunction((n) => (globalThis as any).document.querySelectorAll('tr[data-server]').length >= n && !!(globalThis as any).document.querySelector('.live-open'), servers, { timeout: 60_000, polling: 'raf' });
      dash.push(Date.now() - t0);
      await page.context().close();

      const sp = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
      const t1 = Date.now();
      await sp.goto(`${stat0.url}/`, { waitUntil: 'commit' });
      // Without an API the app draws its sign-in screen (or the error of the failed call): its first screen.
      await sp.waitForFunction(() => ((globalThis as any).document.getElementById('root')?.children.length ?? 0) > 0 && !(globalThis as any).document.querySelector('#root > .loading'), undefined, { timeout: 60_000, polling: 'raf' });
      ref.push(Date.now() - t1);
      await sp.context().close();
    }
    console.log(`dashboard with ${servers} servers, interactive (rows drawn, live socket open): median ${fmt(median(dash))} ms over ${rounds} cold loads`);
    console.log(`  reference static page of the same assets (first screen): median ${fmt(median(ref))} ms; ratio ${ratio(median(dash), median(ref))}`);

    // ---- console rendering ----
    const target = (await g.store.get('GameServer', 'default', 'bench-web-000')) as unknown as GameServer;
    const page = await signedInPage(browser, g, session);
    let received = 0;
    let dropped = 0;
    page.on('websocket', (ws) => {
      ws.on('framereceived', (f) => {
        const text = typeof f.payload === 'string' ? f.payload : f.payload.toString();
        if (text.includes('"type":"server_log"')) received++;
        else if (text.includes('"type":"dropped"')) dropped += Number(/"count":(\d+)/.exec(text)?.[1] ?? 0);
      });
    });
    await page.goto(`${g.url}/servers/${target.metadata.name}`);
    await page.locator('.xterm-rows').waitFor();
    await page.waitForFunction(() => !!(globalThis as any).document.querySelector('.live-open'));
    await page.waitForTimeout(500);
    const fps = (ms: number) => page.evaluate(`new Promise((resolve) => { let n = 0; const t0 = performance.now(); const tick = () => { n++; if (performance.now() - t0 < ${ms}) requestAnimationFrame(tick); else resolve(n / ((performance.now() - t0) / 1000)); }; requestAnimationFrame(tick); })`) as Promise<number>;
    const idleFps = await fps(2000);
    const total = rate * seconds;
    const batchEvery = 10;
    const perBatch = Math.max(1, Math.round((rate * batchEvery) / 1000));
    const busy = fps(seconds * 1000);
    const t0 = Date.now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * rate) + perBatch);
      const lines: ConsoleLine[] = [];
      for (; sent < due; sent++) lines.push({ stream: 'stdout', line: `[bench] line ${sent} \x1b[32mok\x1b[0m ${'x'.repeat(40)}`, ts: Date.now() });
      if (lines.length) g.hub.emit('console', 'bench-web-node', target.metadata.uid!, lines);
      await new Promise((r) => setTimeout(r, batchEvery));
    }
    const sendMs = Date.now() - t0;
    const busyFps = await busy;
    const last = `[bench] line ${total - 1} ok`;
    const tShown = Date.now();
    await page.waitForFunction((text) => ((globalThis as any).document.querySelector('.xterm-rows') as { innerText?: string } | null)?.innerText?.includes(text) ?? false, last, { timeout: 30_000, polling: 'raf' });
    const lagMs = Date.now() - tShown;
    await page.context().close();
    console.log(`console: ${fmt(total)} lines in ${fmt(sendMs)} ms (${fmt((total / sendMs) * 1000)} lines/s sent): ${fmt(busyFps, 1)} fps while they arrive, reference idle ${fmt(idleFps, 1)} fps (${ratio(busyFps, idleFps)})`);
    console.log(`  lines received by the page ${fmt(received)} of ${fmt(total)} (${ratio(received, total)}), dropped notices for ${fmt(dropped)} lines; last line on screen ${fmt(lagMs)} ms after the last was sent`);
  } finally {
    await browser.close().catch(() => undefined);
    await new Promise<void>((r) => stat0.server.close(() => r()));
    await g.stop();
    await rm(dataDir, { recursive: true, force: true });
    await sh('true', []);
  }
}

runIfMain(import.meta.url, run);
