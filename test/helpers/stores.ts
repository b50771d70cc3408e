// The two ResourceStores the store contract runs on: SqliteStore on a temp file, and KubeStore over
// HTTPS against a store-only `gantry up` (its Kubernetes dialect at /k8s, an admin API key, Gantry's
// CA), exactly as it would talk to a real apiserver. Both validate with the real CRDs.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { CrdRegistry } from '../../crds/registry.ts';
import { SqliteStore } from '../../controller/store/sqlite-store.ts';
import { KubeStore } from '../../controller/store/kube-store.ts';
import type { ResourceStore } from '../../controller/store/types.ts';
import { StoreError } from '../../controller/store/errors.ts';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import { kubeconfigFor } from '../../bin/commands/kubeconfig.ts';
import { ADMIN_ROLE } from '../../api/auth/accounts.ts';

/** The StoreError a call fails with (anything else, or no failure, fails the test). */
export async function storeFailure(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof StoreError) return err;
    throw new Error(`expected a StoreError, got ${String(err)}`);
  }
  throw new Error('expected the call to fail');
}

export interface StoreUnderTest {
  name: string;
  store: ResourceStore;
  /** Changes the store keeps for watches from an older version (what `historyLimit` was opened with). */
  historyLimit: number;
  close(): Promise<void>;
}

export type StoreFactory = (opts: { historyLimit: number }) => Promise<StoreUnderTest>;

export const sqliteStoreFactory: StoreFactory = async ({ historyLimit }) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-contract-sqlite-'));
  const store = await SqliteStore.open({ path: path.join(dir, 'gantry.db'), schema: await CrdRegistry.load(), historyLimit });
  return {
    name: 'SqliteStore',
    store,
    historyLimit,
    async close() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

/** A store-only `gantry up` (no controllers, no agent) and a kubeconfig for it with an admin API key. */
export interface KubeEndpoint {
  gantry: Embedded;
  kubeconfig: k8s.KubeConfig;
  /** The kubeconfig as YAML (for `gantry controller --kubeconfig FILE`). */
  yaml: string;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startKubeEndpoint(opts: { historyLimit?: number; prefix?: string; seedDir?: string } = {}): Promise<KubeEndpoint> {
  const dataDir = await mkdtemp(path.join(tmpdir(), opts.prefix ?? 'gantry-kube-endpoint-'));
  const gantry = await startEmbedded({ dataDir, port: 0, tlsPort: 0, host: '127.0.0.1', storeOnly: true, sftpPort: false, storeHistoryLimit: opts.historyLimit, seedDir: opts.seedDir });
  const admin = await gantry.api.accounts.createUser({ email: 'store-admin@example.test', username: 'store-admin', password: 'correct horse battery', roleIds: [ADMIN_ROLE] });
  const { key } = await gantry.api.accounts.createApiKey(admin.id, { name: 'kube-store', permissions: ['*'] });
  const yaml = stringify(kubeconfigFor({ server: `${gantry.tls!.url}/k8s`, token: key, username: 'store-admin', certificateAuthorityData: Buffer.from(gantry.tls!.ca).toString('base64') }));
  const kubeconfig = new k8s.KubeConfig();
  kubeconfig.loadFromString(yaml);
  return {
    gantry,
    kubeconfig,
    yaml,
    dataDir,
    async stop() {
      // A test may have stopped it already (an apiserver going away): stopping twice is not an error here.
      await gantry.stop().catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export const kubeStoreFactory: StoreFactory = async ({ historyLimit }) => {
  const endpoint = await startKubeEndpoint({ historyLimit, prefix: 'gantry-contract-kube-' });
  const store = new KubeStore({ kubeConfig: endpoint.kubeconfig, kinds: endpoint.gantry.registry, rewatchDelayMs: 50 });
  return {
    name: 'KubeStore',
    store,
    historyLimit,
    async close() {
      await store.close();
      await endpoint.stop();
    },
  };
};
