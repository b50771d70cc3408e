// `gantry controller`: Gantry on a Kubernetes API server. Resources live there (KubeStore over the CRDs
// of crds/); every replica campaigns for a coordination.k8s.io/v1 Lease, and only the holder runs
// anything: the reconcilers, the agent hub, the REST API, /ws and SFTP. A standby serves nothing but
// its probes, and says "not ready" there, so a Kubernetes Service (which routes to ready pods only)
// sends agents and API clients to the leader alone. That is also why the state kept in one process —
// the rate limiter, the hub's sockets, the account cache — stays correct: one process at a time acts.
//
// Losing the lease (not renewed within the renew deadline) ends the process at once: Kubernetes
// restarts it as a candidate, and nothing it started can act past the point where another replica
// may take over. SIGTERM stops cleanly and releases the lease, so the standby takes over at once.
import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, chmod } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { CrdRegistry } from '../../crds/registry.ts';
import { KubeStore } from '../../controller/store/kube-store.ts';
import { isStoreError } from '../../controller/store/errors.ts';
import { LeaderElector } from '../../controller/coordination/leader-election.ts';
import { openSqlDb } from '../../controller/store/sql-db.ts';
import { EventRecorder } from '../../controller/events/recorder.ts';
import { KubeEventSink } from '../../controller/events/kube-events.ts';
import { SecretBox } from '../../controller/databases/secret-box.ts';
import { rootLogger } from '../../lib/log.ts';
import { GANTRY_VERSION } from '../../lib/version.ts';
import { startGantry, type Gantry, type UpOptions } from './up.ts';
import { untilSignal } from './signals.ts';

export interface ControllerOptions {
  /** A kubeconfig file; undefined: the in-cluster config (service account token, KUBERNETES_SERVICE_HOST). */
  kubeconfig?: string;
  dataDir: string;
  /** Where accounts, grants, audit, node credentials, events and alerts live: postgres://… (shared by
   *  the replicas), or a SQLite file (default DATA_DIR/gantry.db: one replica's own). */
  database?: string;
  /** Where events go: core/v1 Events on the apiserver (default; kubectl get events shows them), or
   *  the database beside accounts and audit. */
  events?: 'kubernetes' | 'database';
  /** The API's port (REST, /ws, /k8s of the agents' and clients' Service), bound only while leading. */
  port: number;
  host: string;
  /** /healthz and /readyz, served from the start on every replica. */
  probePort: number;
  probeHost?: string;
  leaseNamespace?: string;
  leaseName: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  publicUrl?: string;
  sftpPort?: number | false;
  apiLimits?: UpOptions['apiLimits'];
  env?: NodeJS.ProcessEnv;
  /** Called instead of exiting when the lease is lost (tests); default: process.exit(1). */
  onLost?: (why: string) => void;
}

export interface RunningController {
  elector: LeaderElector;
  probeUrl: string;
  identity: string;
  /** The running Gantry while this replica leads. */
  gantry(): Gantry | undefined;
  stop(): Promise<void>;
}

export function loadKubeConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (file) {
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new Error(`${file} is not a kubeconfig gantry controller can use: ${(err as Error).message}`);
    }
  } else if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else throw new Error('gantry controller needs --kubeconfig FILE, or to run in a Kubernetes pod (in-cluster config: KUBERNETES_SERVICE_HOST)');
  if (!kc.getCurrentCluster()) throw new Error(`${file ?? 'the in-cluster config'} names no current cluster`);
  return kc;
}

/** A key every replica shares, from the environment (a Secret): NAME (hex) or NAME_FILE; else undefined (DATA_DIR's own). */
async function sharedKey(env: NodeJS.ProcessEnv, name: string, exact?: number): Promise<Buffer | undefined> {
  const file = env[`${name}_FILE`];
  const hex = env[name]?.trim() || (file ? (await readFile(file, 'utf8')).trim() : '');
  if (!hex) return undefined;
  const ok = /^[0-9a-f]+$/i.test(hex) && hex.length % 2 === 0 && (exact ? hex.length === exact * 2 : hex.length >= 64);
  if (!ok) throw new Error(`${name} must be ${exact ? 'exactly' : 'at least'} 32 bytes in hex (openssl rand -hex 32)`);
  return Buffer.from(hex, 'hex');
}

export async function startController(opts: ControllerOptions): Promise<RunningController> {
  const env = opts.env ?? process.env;
  const log = rootLogger.child({ component: 'controller-main' });
  const kubeConfig = loadKubeConfig(opts.kubeconfig, env);
  const identity = opts.identity || env.POD_NAME || `${hostname()}_${randomUUID().slice(0, 8)}`;
  const leaseNamespace = opts.leaseNamespace || env.POD_NAMESPACE || kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace || 'default';
  const registry = await CrdRegistry.load();
  const store = new KubeStore({ kubeConfig, kinds: registry, log: rootLogger.child({ component: 'kube-store' }) });
  // Fail now, with words, when the apiserver cannot be reached or the CRDs are missing.
  try {
    await store.list('GameNode', { limit: 1 });
  } catch (err) {
    await store.close();
    if (isStoreError(err, 'NotFound')) throw new Error(`the Kubernetes API at ${kubeConfig.getCurrentCluster()!.server} serves no gantry.dev/v1alpha1 GameNodes: install the CRDs first (kubectl apply -f crds/)`);
    throw new Error(`cannot use the Kubernetes API at ${kubeConfig.getCurrentCluster()!.server}: ${(err as Error).message}`);
  }
  const dataDir = path.resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chmod(dataDir, 0o700);
  const secret = await sharedKey(env, 'GANTRY_SECRET');
  const databaseKey = await sharedKey(env, 'GANTRY_DATABASE_SECRETS_KEY', 32);
  const databaseSecrets = databaseKey ? new SecretBox(databaseKey) : undefined;
  const database = opts.database || env.GANTRY_DATABASE_URL || path.join(dataDir, 'gantry.db');
  const databaseShown = /^postgres/i.test(database) ? (() => { const u = new URL(database); u.password = ''; return u.toString(); })() : database;

  let gantry: Gantry | undefined;
  let starting: Promise<void> | undefined;
  let stopping = false;
  const lost = opts.onLost ?? ((why: string) => {
    log.error('leadership lost; exiting so that nothing of this replica acts any more', { why });
    process.exit(1);
  });

  const elector = new LeaderElector({
    kubeConfig,
    namespace: leaseNamespace,
    name: opts.leaseName,
    identity,
    leaseDurationMs: opts.leaseDurationMs,
    renewDeadlineMs: opts.renewDeadlineMs,
    retryPeriodMs: opts.retryPeriodMs,
    log: rootLogger,
    // Not awaited by the elector: it goes on renewing while everything starts.
    onStartedLeading: () => {
      starting = (async () => {
        const db = await openSqlDb(database);
        const events = opts.events === 'database'
          ? await EventRecorder.open({ db, component: 'gantry-controller' })
          : new KubeEventSink({ kubeConfig, component: 'gantry-controller', instance: identity });
        gantry = await startGantry(
          { dataDir, port: opts.port, host: opts.host, publicUrl: opts.publicUrl, sftpPort: opts.sftpPort, apiLimits: opts.apiLimits },
          // An apiserver sends a bookmark about once a minute: silence is taken for a dropped watch after three.
          { dataDir, registry, store, db, events, secret, databaseSecrets, bookmarkIntervalMs: 60_000, close: async () => db.close() },
        );
        log.info('leading: controllers, agent hub and API started', { identity, url: gantry.url });
      })();
      starting.catch((err: unknown) => lost(`starting as the leader failed: ${(err as Error).message}`));
    },
    onStoppedLeading: (why) => {
      if (!stopping) lost(why);
    },
  });

  // The probes: liveness while the process works, readiness only while it leads and runs.
  const probe: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://probe');
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/healthz' || url.pathname === '/livez') return reply(200, { status: 'ok', identity, leader: elector.isLeader, version: GANTRY_VERSION });
    if (url.pathname === '/readyz') {
      const ready = elector.isLeader && gantry !== undefined && !stopping;
      return reply(ready ? 200 : 503, { ready, identity, leader: elector.leader || null, ...(ready ? { url: gantry!.url } : { reason: elector.isLeader ? 'starting' : 'standby: another replica holds the lease' }) });
    }
    reply(404, { message: `no probe at ${url.pathname}: /healthz, /readyz` });
  });
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err) => reject(new Error(`cannot listen on ${opts.probeHost ?? opts.host}:${opts.probePort} (probes): ${err.message}`)));
    probe.listen(opts.probePort, opts.probeHost ?? opts.host, () => resolve());
  });
  const probePort = (probe.address() as AddressInfo).port;
  const probeUrl = `http://${(opts.probeHost ?? opts.host) === '0.0.0.0' ? '127.0.0.1' : (opts.probeHost ?? opts.host)}:${probePort}`;
  log.info('gantry controller is up: campaigning for the lease', {
    version: GANTRY_VERSION, identity, lease: `${leaseNamespace}/${opts.leaseName}`, kubernetes: kubeConfig.getCurrentCluster()!.server, probes: probeUrl, database: databaseShown, events: opts.events ?? 'kubernetes',
  });
  elector.start();

  return {
    elector,
    probeUrl,
    identity,
    gantry: () => gantry,
    async stop() {
      stopping = true;
      await starting?.catch(() => undefined);
      // Stop acting first, then let the lease go: the standby must not start while we still run.
      await gantry?.stop();
      await elector.stop();
      await store.close();
      await new Promise<void>((r) => probe.close(() => r()));
    },
  };
}

/** Runs until SIGINT/SIGTERM. */
export async function controllerCommand(opts: ControllerOptions): Promise<number> {
  const running = await startController(opts);
  return untilSignal(rootLogger.child({ component: 'controller-main' }), () => running.stop());
}
