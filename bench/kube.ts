// The Kubernetes dialect under kubectl, each figure beside the same work through Gantry's REST API
// (Catalyst's) in the same run, both from one client process over the same HTTPS listener.
//
//   node dist/bench/kube.js     (BENCH_SERVERS=1000 BENCH_MANIFESTS=100 BENCH_RUNS=5 GANTRY_KUBECTL=kubectl)
//
//   (a) `kubectl get gs` of BENCH_SERVERS servers (a meta.k8s.io Table, discovery cached after a warm-up
//       run), median of BENCH_RUNS, vs one curl process fetching every server through
//       `GET /api/servers?limit=100&page=N` (the REST API's page limit).
//       And the server's part alone: the Table list in one request vs the REST pages, from this
//       process over a kept-alive connection (no kubectl or curl start-up in either).
//   (b) `kubectl apply -f DIR` of BENCH_MANIFESTS new GameServer manifests (kubectl GETs, then POSTs
//       each), vs one curl process POSTing the same servers to `/api/servers`; and a second apply of the
//       same files (all unchanged: a GET each) vs curl GETting each server.
// Only the API runs (store, accounts, HTTPS), no controllers: what is measured is the dialect.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { serve, type ServerType } from '@hono/node-server';
import { createApp } from '../api/app.ts';
import { defaultTlsNames, loadOrCreateTls } from '../api/http/tls.ts';
import { openApiServices } from '../api/open.ts';
import { EventRecorder } from '../controller/events/recorder.ts';
import { seedTemplates } from '../controller/sources/seed.ts';
import { SqliteDb } from '../controller/store/sqlite-db.ts';
import { SqliteStore } from '../controller/store/sqlite-store.ts';
import { CrdRegistry } from '../crds/registry.ts';
import { createLogger } from '../lib/log.ts';
import { signInAdmin } from '../test/helpers/api.ts';
import { kubectlFor } from '../test/helpers/kube.ts';
import { fmt, median, num, ratio, runIfMain, sh } from './lib.ts';
import { PACKAGE_ROOT as ROOT } from '../lib/package-files.ts';


/** GET over HTTPS with the CA; resolves with the body length (the body is read whole). */
function get(url: string, ca: string, headers: Record<string, string>, agent: import('node:https').Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, headers, agent }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => (n += d.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`GET ${url}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function timed(what: string, fn: () => Promise<{ code: number; out?: string; stderr?: string; stdout?: string }>): Promise<number> {
  const t0 = performance.now();
  const r = await fn();
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`${what} failed: ${(r.out ?? `${r.stderr ?? ''}${r.stdout ?? ''}`).slice(0, 500)}`);
  return ms;
}

export async function run(): Promise<void> {
  const servers = num('BENCH_SERVERS', 1000);
  const manifests = num('BENCH_MANIFESTS', 100);
  const runs = num('BENCH_RUNS', 5);
  const bin = process.env.GANTRY_KUBECTL?.split(',')[0] || 'kubectl';
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-bench-kube-'));
  const log = createLogger({ bench: 'kube' }, 'error');
  const registry = await CrdRegistry.load();
  const db = await SqliteDb.open(path.join(dir, 'gantry.db'), { synchronous: 'NORMAL' });
  const store = await SqliteStore.open({ db, schema: registry, log });
  const events = await EventRecorder.open({ db });
  await seedTemplates(store, path.join(ROOT, 'manifests/examples'), log);
  // Limits as an operator would set them for scripted use: the per-user rate limit is not the subject.
  const api = await openApiServices({ db, dataDir: dir, store, registry, events, log, limits: { userPerMinute: 1_000_000 } });
  const tls = await loadOrCreateTls(dir, defaultTlsNames('127.0.0.1'));
  const kube = { ca: tls.ca, tlsPort: 0 };
  const app = createApp({ store, registry, events, log, api, kube });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', createServer: createHttpsServer, serverOptions: { key: tls.key, cert: tls.cert } }, () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  kube.tlsPort = port;
  const url = `https://127.0.0.1:${port}`;
  const caFile = path.join(dir, 'ca.crt');
  await writeFile(caFile, tls.ca);
  const admin = await signInAdmin(api);
  const k = await kubectlFor({ url, ca: tls.ca }, admin.token, 'admin', bin);
  const curl = (args: string[]) => sh('curl', ['-sS', '--fail-with-body', '--cacert', caFile, '-H', `Authorization: Bearer ${admin.token}`, ...args], 300_000);

  try {
    console.log(`kubectl: ${bin} (${(await sh(bin, ['version', '--client', '-o', 'json'])).out.match(/"gitVersion":\s*"([^"]+)"/)?.[1] ?? '?'})`);
    for (let i = 0; i < servers; i++) {
      await store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: `bench-gs-${String(i).padStart(4, '0')}`, namespace: 'default' }, spec: { templateRef: 'testgame', owner: admin.userId } });
    }

    // (a) kubectl get gs (Table) vs the REST API's pages.
    await timed('kubectl get gs (warm-up)', () => k.run(['get', 'gs']));
    const pages = Math.ceil(servers / 100);
    const pageUrls = Array.from({ length: pages }, (_, i) => `${url}/api/servers?limit=100&page=${i + 1}`);
    await timed('curl GET /api/servers (warm-up)', () => curl(['-o', '/dev/null', ...pageUrls.flatMap((u) => [u, '-o', '/dev/null'])]));
    const kGet: number[] = [];
    const rGet: number[] = [];
    for (let i = 0; i < runs; i++) {
      kGet.push(await timed('kubectl get gs', async () => {
        const r = await k.run(['get', 'gs']);
        if (r.stdout.trim().split('\n').length !== servers + 1) return { code: 1, out: `expected ${servers} rows, got ${r.stdout.split('\n').length - 1}` };
        return r;
      }));
      rGet.push(await timed('curl GET /api/servers', () => curl(pageUrls.flatMap((u) => [u, '-o', '/dev/null']))));
    }
    console.log(`(a) kubectl get gs, ${fmt(servers)} servers as a Table: ${fmt(median(kGet))} ms  |  REST GET /api/servers (${pages} pages of 100, one curl): ${fmt(median(rGet))} ms  |  ratio ${ratio(median(kGet), median(rGet))}`);
    const { Agent } = await import('node:https');
    const agent = new Agent({ keepAlive: true, ca: tls.ca });
    const auth = { authorization: `Bearer ${admin.token}` };
    const tableHeaders = { ...auth, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' };
    const tableUrl = `${url}/k8s/apis/gantry.dev/v1alpha1/namespaces/default/gameservers?limit=500`;
    const sTable: number[] = [];
    const sRest: number[] = [];
    for (let i = 0; i < runs * 2; i++) {
      let t0 = performance.now();
      // kubectl pages by 500 as well (--chunk-size): the same requests it made above.
      let next: string | undefined = tableUrl;
      while (next) {
        const body: string = await new Promise((resolve, reject) => {
          const req = httpsRequest(next!, { ca: tls.ca, headers: tableHeaders, agent }, (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d));
            res.on('end', () => resolve(text));
          });
          req.on('error', reject);
          req.end();
        });
        const cont = (JSON.parse(body) as { metadata?: { continue?: string } }).metadata?.continue;
        next = cont ? `${tableUrl}&continue=${encodeURIComponent(cont)}` : undefined;
      }
      sTable.push(performance.now() - t0);
      t0 = performance.now();
      for (const u of pageUrls) await get(u, tls.ca, auth, agent);
      sRest.push(performance.now() - t0);
    }
    agent.destroy();
    console.log(`    server side: Table list of ${fmt(servers)} (pages of 500): ${fmt(median(sTable), 1)} ms  |  REST ${pages} pages of 100: ${fmt(median(sRest), 1)} ms  |  ratio ${ratio(median(sTable), median(sRest))}`);

    // (b) kubectl apply of new manifests vs REST POSTs, then an unchanged apply vs REST GETs.
    const mdir = path.join(dir, 'manifests');
    await mkdir(mdir);
    for (let i = 0; i < manifests; i++) {
      await writeFile(path.join(mdir, `gs-${i}.yaml`), `apiVersion: gantry.dev/v1alpha1\nkind: GameServer\nmetadata:\n  name: bench-apply-${i}\nspec:\n  templateRef: testgame\n  displayName: Bench ${i}\n`);
    }
    const kApply = await timed('kubectl apply', () => k.run(['apply', '-f', mdir], { timeoutMs: 300_000 }));
    const posts = Array.from({ length: manifests }, (_, i) => ['-X', 'POST', '-H', 'Content-Type: application/json', '-d', JSON.stringify({ id: `bench-rest-${i}`, name: `Bench ${i}`, templateId: 'testgame' }), `${url}/api/servers`, '-o', '/dev/null']);
    const rPost = await timed('curl POST /api/servers', () => curl(posts.flatMap((p, i) => (i ? ['--next', '-sS', '--fail-with-body', '--cacert', caFile, '-H', `Authorization: Bearer ${admin.token}`, ...p] : p))));
    console.log(`(b) kubectl apply -f DIR, ${manifests} new GameServers: ${fmt(kApply)} ms  |  REST POST /api/servers ×${manifests} (one curl): ${fmt(rPost)} ms  |  ratio ${ratio(kApply, rPost)}`);
    const kAgain = await timed('kubectl apply (unchanged)', () => k.run(['apply', '-f', mdir], { timeoutMs: 300_000 }));
    const gets = Array.from({ length: manifests }, (_, i) => [`${url}/api/servers/bench-rest-${i}`, '-o', '/dev/null']);
    const rGets = await timed('curl GET /api/servers/:id', () => curl(gets.flat()));
    console.log(`    kubectl apply again (${manifests} unchanged): ${fmt(kAgain)} ms  |  REST GET /api/servers/:id ×${manifests} (one curl): ${fmt(rGets)} ms  |  ratio ${ratio(kAgain, rGets)}`);
  } finally {
    await k.close();
    await new Promise<void>((r) => server.close(() => r()));
    await store.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
