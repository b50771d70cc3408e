// coordination.k8s.io/v1 Leases for the dialect: what leader election needs from an apiserver (the
// controller replicas of `gantry controller` hold one). A table of its own beside the store: a Lease
// is not a Gantry kind (no CRD, another API group), and nothing in Gantry watches it.
//
// Semantics as an apiserver's: create refuses a taken name (AlreadyExists); update needs the
// resourceVersion it read and refuses a stale one (Conflict) — the optimistic concurrency that makes
// "two candidates renew at once" end with one holder; resourceVersions are opaque strings.
import { randomUUID } from 'node:crypto';
import { migrate, type Migration } from '../../controller/store/migrations.ts';
import type { SqlDb } from '../../controller/store/sql-db.ts';
import { nameProblem } from '../../controller/store/metadata.ts';
import { alreadyExists, conflict, invalid, notFound } from '../../controller/store/errors.ts';
import type { FieldError } from '../../crds/resource.ts';

export const LEASE_API_VERSION = 'coordination.k8s.io/v1';
const KIND = 'Lease';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease {
  apiVersion: typeof LEASE_API_VERSION;
  kind: 'Lease';
  metadata: { name: string; namespace: string; uid: string; resourceVersion: string; creationTimestamp: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: LeaseSpec;
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'coordination.k8s.io/v1 leases',
    up: `CREATE TABLE kube_leases (
      namespace TEXT NOT NULL, name TEXT NOT NULL, rv INTEGER NOT NULL, body TEXT NOT NULL,
      PRIMARY KEY (namespace, name)
    )`,
  },
];

const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;

function checkSpec(spec: unknown): FieldError[] {
  if (spec === undefined) return [];
  if (!isObject(spec)) return [{ field: 'spec', message: 'must be an object' }];
  const errs: FieldError[] = [];
  const known = new Set(['holderIdentity', 'leaseDurationSeconds', 'acquireTime', 'renewTime', 'leaseTransitions', 'strategy', 'preferredHolder']);
  for (const k of Object.keys(spec)) if (!known.has(k)) errs.push({ field: `spec.${k}`, message: 'unknown field' });
  if (spec.holderIdentity !== undefined && spec.holderIdentity !== null && (typeof spec.holderIdentity !== 'string' || spec.holderIdentity.length > 1024)) errs.push({ field: 'spec.holderIdentity', message: 'must be a string of at most 1024 characters' });
  for (const f of ['leaseDurationSeconds', 'leaseTransitions'] as const) {
    const v = spec[f];
    if (v !== undefined && v !== null && (!Number.isInteger(v) || v < (f === 'leaseDurationSeconds' ? 1 : 0) || v > 2 ** 31 - 1)) errs.push({ field: `spec.${f}`, message: f === 'leaseDurationSeconds' ? 'must be greater than 0' : 'must be greater than or equal to 0' });
  }
  for (const f of ['acquireTime', 'renewTime'] as const) {
    const v = spec[f];
    if (v !== undefined && v !== null && (typeof v !== 'string' || !MICRO_TIME.test(v) || Number.isNaN(Date.parse(v)))) errs.push({ field: `spec.${f}`, message: 'must be an RFC 3339 time (MicroTime)' });
  }
  return errs;
}

export class LeaseStore {
  private constructor(private readonly db: SqlDb) {}

  static async open(db: SqlDb): Promise<LeaseStore> {
    await migrate(db, 'kube-leases', MIGRATIONS);
    return new LeaseStore(db);
  }

  async get(namespace: string, name: string): Promise<Lease> {
    const row = await this.db.get<{ body: string }>('SELECT body FROM kube_leases WHERE namespace = ? AND name = ?', [namespace, name]);
    if (!row) throw notFound(KIND, name);
    return JSON.parse(row.body) as Lease;
  }

  async list(namespace?: string): Promise<{ items: Lease[]; resourceVersion: string }> {
    const rows = namespace === undefined
      ? await this.db.all<{ body: string }>('SELECT body FROM kube_leases ORDER BY namespace, name')
      : await this.db.all<{ body: string }>('SELECT body FROM kube_leases WHERE namespace = ? ORDER BY name', [namespace]);
    const rv = await this.db.get<{ rv: number | null }>('SELECT max(rv) AS rv FROM kube_leases');
    return { items: rows.map((r) => JSON.parse(r.body) as Lease), resourceVersion: String(rv?.rv ?? 0) };
  }

  async create(namespace: string, input: Record<string, any>, dryRun = false): Promise<Lease> {
    const meta = isObject(input.metadata) ? input.metadata : {};
    const name = typeof meta.name === 'string' ? meta.name : '';
    const errs = [...this.nameErrors(name), ...checkSpec(input.spec)];
    if (errs.length) throw invalid(KIND, name, errs);
    return this.db.transaction(async (tx) => {
      const taken = await tx.get('SELECT 1 AS x FROM kube_leases WHERE namespace = ? AND name = ?', [namespace, name]);
      if (taken) throw alreadyExists(KIND, name);
      const rv = await this.nextRv(tx);
      const lease: Lease = {
        apiVersion: LEASE_API_VERSION,
        kind: KIND,
        metadata: { name, namespace, uid: randomUUID(), resourceVersion: String(rv), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), ...labelsOf(meta) },
        spec: specOf(input.spec),
      };
      if (!dryRun) await tx.run('INSERT INTO kube_leases (namespace, name, rv, body) VALUES (?, ?, ?, ?)', [namespace, name, rv, JSON.stringify(lease)]);
      return lease;
    });
  }

  /** Replaces spec (and labels/annotations) when metadata.resourceVersion is the stored one. */
  async update(namespace: string, name: string, input: Record<string, any>, dryRun = false): Promise<Lease> {
    const meta = isObject(input.metadata) ? input.metadata : {};
    const errs = checkSpec(input.spec);
    const rvIn = meta.resourceVersion;
    if (rvIn === undefined || rvIn === '') errs.push({ field: 'metadata.resourceVersion', message: 'must be specified for an update' });
    if (errs.length) throw invalid(KIND, name, errs);
    return this.db.transaction(async (tx) => {
      const row = await tx.get<{ body: string; rv: number }>('SELECT body, rv FROM kube_leases WHERE namespace = ? AND name = ?', [namespace, name]);
      if (!row) throw notFound(KIND, name);
      if (String(rvIn) !== String(row.rv)) throw conflict(`leases.coordination.k8s.io`, name, 'the object has been modified; please apply your changes to the latest version and try again');
      const cur = JSON.parse(row.body) as Lease;
      const rv = await this.nextRv(tx);
      const next: Lease = { ...cur, metadata: { ...cur.metadata, ...labelsOf(meta), resourceVersion: String(rv) }, spec: specOf(input.spec) };
      if (!meta.labels) delete next.metadata.labels;
      if (!meta.annotations) delete next.metadata.annotations;
      if (!dryRun) await tx.run('UPDATE kube_leases SET rv = ?, body = ? WHERE namespace = ? AND name = ?', [rv, JSON.stringify(next), namespace, name]);
      return next;
    });
  }

  async delete(namespace: string, name: string, opts: { resourceVersion?: string; dryRun?: boolean } = {}): Promise<Lease> {
    return this.db.transaction(async (tx) => {
      const row = await tx.get<{ body: string; rv: number }>('SELECT body, rv FROM kube_leases WHERE namespace = ? AND name = ?', [namespace, name]);
      if (!row) throw notFound(KIND, name);
      if (opts.resourceVersion !== undefined && opts.resourceVersion !== String(row.rv)) throw conflict('leases.coordination.k8s.io', name, 'the object has been modified; please apply your changes to the latest version and try again');
      if (!opts.dryRun) await tx.run('DELETE FROM kube_leases WHERE namespace = ? AND name = ?', [namespace, name]);
      return JSON.parse(row.body) as Lease;
    });
  }

  private nameErrors(name: string): FieldError[] {
    if (!name) return [{ field: 'metadata.name', message: 'name or generateName is required' }];
    const problem = nameProblem(name);
    return problem ? [{ field: 'metadata.name', message: problem }] : [];
  }

  private async nextRv(tx: { get<T>(sql: string, p?: unknown[]): Promise<T | undefined> }): Promise<number> {
    const r = await tx.get<{ rv: number | null }>('SELECT max(rv) AS rv FROM kube_leases');
    return (r?.rv ?? 0) + 1;
  }
}

function specOf(spec: unknown): LeaseSpec {
  if (!isObject(spec)) return {};
  const out: LeaseSpec = {};
  for (const k of ['holderIdentity', 'leaseDurationSeconds', 'acquireTime', 'renewTime', 'leaseTransitions'] as const) {
    if (spec[k] !== undefined && spec[k] !== null) (out as Record<string, unknown>)[k] = spec[k];
  }
  return out;
}

function labelsOf(meta: Record<string, any>): { labels?: Record<string, string>; annotations?: Record<string, string> } {
  return {
    ...(isObject(meta.labels) ? { labels: meta.labels as Record<string, string> } : {}),
    ...(isObject(meta.annotations) ? { annotations: meta.annotations as Record<string, string> } : {}),
  };
}
