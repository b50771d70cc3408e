// `npm run bench`: every benchmark in turn, or the ones named (`npm run bench -- store`).
// Each prints its figures beside a reference measured in the same run, as a ratio.
const BENCHES: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  store: () => import('./store.ts'),
  agent: () => import('./agent.ts'),
  reconcile: () => import('./reconcile.ts'),
  api: () => import('./api.ts'),
  metrics: () => import('./metrics.ts'),
  backups: () => import('./backups.ts'),
  files: () => import('./files.ts'),
  'api-files': () => import('./api-files.ts'),
  kube: () => import('./kube.ts'),
  players: () => import('./players.ts'),
  databases: () => import('./databases.ts'),
  web: () => import('./web.ts'),
  waits: () => import('./waits.ts'),
  start: () => import('./start.ts'),
  transfer: () => import('./transfer.ts'),
  cluster: () => import('./cluster.ts'),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !(w in BENCHES));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')} (known: ${Object.keys(BENCHES).join(', ')})`);
  process.exit(2);
}
for (const name of wanted.length ? wanted : Object.keys(BENCHES)) {
  console.log(`\n== bench/${name}`);
  const mod = await BENCHES[name]();
  await mod.run();
}
