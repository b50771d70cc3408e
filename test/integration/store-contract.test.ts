// The ResourceStore contract (test/contract/store.ts) on both stores: SqliteStore on a real file, and
// KubeStore over HTTPS against a store-only Gantry's Kubernetes endpoint (/k8s), as it would talk to a
// real apiserver (no kube-apiserver can be installed here).
import { describe } from 'vitest';
import { storeContract } from '../contract/store.ts';
import { kubeStoreFactory, sqliteStoreFactory } from '../helpers/stores.ts';

describe('store contract: SqliteStore', () => storeContract(sqliteStoreFactory));
describe('store contract: KubeStore', () => storeContract(kubeStoreFactory));
