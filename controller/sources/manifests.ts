// GitOps source: a directory of YAML files is the desired state of whatever it declares.
// Files are applied into the store; removing a document or a file prunes what it created.
// A broken file or document is reported (log line + Event) and never blocks the others.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import { parseAllDocuments } from 'yaml';
import type { CrdRegistry } from '../../crds/registry.ts';
import type { Resource } from '../../crds/resource.ts';
import { mergeDeclaredSpec } from '../../crds/ownership.ts';
import type { ResourceStore } from '../store/types.ts';
import { isStoreError, StoreError } from '../store/errors.ts';
import type { Logger } from '../../lib/log.ts';

export const MANAGED_BY_LABEL = 'gantry.dev/managed-by';
export const MANAGED_BY_VALUE = 'manifests';
export const SOURCE_FILE_ANNOTATION = 'gantry.dev/manifest-file';
export const SOURCE_DIR_ANNOTATION = 'gantry.dev/manifest-dir';

const YAML_FILE = /\.(ya?ml|json)$/i;

export interface ManifestEventSink {
  record(
    obj: { kind: string; namespace?: string; name: string; uid?: string },
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<unknown>;
}

export interface ManifestProblem {
  file: string;
  document?: number;
  field?: string;
  message: string;
}

export interface FileSyncResult {
  file: string;
  applied: string[];
  unchanged: string[];
  pruned: string[];
  problems: ManifestProblem[];
}

interface Key {
  kind: string;
  namespace?: string;
  name: string;
}
const keyString = (k: Key) => `${k.kind}/${k.namespace ? k.namespace + '/' : ''}${k.name}`;

export interface ManifestSourceOptions {
  dir: string;
  store: ResourceStore;
  registry: CrdRegistry;
  events: ManifestEventSink;
  log: Logger;
  /** Editors write a file in several steps; changes within this window are applied once. */
  debounceMs?: number;
}

export class ManifestSource {
  readonly dir: string;
  private readonly store: ResourceStore;
  private readonly registry: CrdRegistry;
  private readonly events: ManifestEventSink;
  private readonly log: Logger;
  private readonly debounceMs: number;
  private watcher?: FSWatcher;
  private timers = new Map<string, NodeJS.Timeout>();
  /** Files are synced one at a time, in the order their changes settled. */
  private chain: Promise<unknown> = Promise.resolve();
  /** The last problems seen per file, for health/status reporting. */
  readonly problems = new Map<string, ManifestProblem[]>();

  constructor(opts: ManifestSourceOptions) {
    this.dir = path.resolve(opts.dir);
    this.store = opts.store;
    this.registry = opts.registry;
    this.events = opts.events;
    this.log = opts.log.child({ component: 'manifests', dir: this.dir });
    this.debounceMs = opts.debounceMs ?? 150;
  }

  /** Applies every file, prunes what vanished while we were down, then follows changes. */
  async start(): Promise<void> {
    await this.syncAll();
    this.watcher = chokidarWatch(this.dir, {
      ignoreInitial: true,
      ignored: (p: string) => path.basename(p).startsWith('.') && p !== this.dir,
    });
    const onChange = (p: string) => {
      if (YAML_FILE.test(p)) this.schedule(this.relative(p));
    };
    this.watcher.on('add', onChange).on('change', onChange).on('unlink', onChange);
    this.watcher.on('error', (err) => this.log.error('manifest watcher error', { err }));
    await new Promise<void>((resolve) => this.watcher!.once('ready', () => resolve()));
    this.log.info('watching manifests');
  }

  async stop(): Promise<void> {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await this.watcher?.close();
    await this.chain.catch(() => undefined);
  }

  /** Waits until every change seen so far has been applied (tests and shutdown use it). */
  async idle(): Promise<void> {
    while (this.timers.size) await new Promise((r) => setTimeout(r, this.debounceMs));
    await this.chain.catch(() => undefined);
  }

  async syncAll(): Promise<FileSyncResult[]> {
    const files = await listYamlFiles(this.dir);
    const results: FileSyncResult[] = [];
    for (const f of files) results.push(await this.enqueue(f));
    // Resources whose file is gone (deleted while Gantry was down) are pruned too.
    const present = new Set(files);
    for (const obj of await this.managedResources()) {
      const file = obj.metadata.annotations?.[SOURCE_FILE_ANNOTATION];
      if (file && !present.has(file)) await this.enqueue(file);
    }
    return results;
  }

  private schedule(file: string): void {
    clearTimeout(this.timers.get(file));
    this.timers.set(
      file,
      setTimeout(() => {
        this.timers.delete(file);
        void this.enqueue(file);
      }, this.debounceMs),
    );
  }

  private enqueue(file: string): Promise<FileSyncResult> {
    const run = this.chain.then(() => this.syncFile(file));
    this.chain = run.catch((err) => this.log.error('manifest sync failed', { file, err }));
    return run;
  }

  private relative(p: string): string {
    return path.relative(this.dir, path.resolve(this.dir, p)).split(path.sep).join('/');
  }

  /** Brings the store in line with one file (absent file = everything it declared is pruned). */
  async syncFile(file: string): Promise<FileSyncResult> {
    const result: FileSyncResult = { file, applied: [], unchanged: [], pruned: [], problems: [] };
    let text: string | undefined;
    try {
      text = await readFile(path.join(this.dir, file), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        await this.report(result, { file, message: `cannot read file: ${(err as Error).message}` });
        return this.finish(result);
      }
    }

    const declared = new Set<string>();
    // When a document cannot be parsed we no longer know what the file declares, so nothing is
    // pruned: a typo must never delete a running server.
    let prunable = true;
    if (text !== undefined) {
      const docs = parseAllDocuments(text, { prettyErrors: true });
      const list = Array.isArray(docs) ? docs : [docs];
      for (const [index, doc] of list.entries()) {
        if (doc.errors.length) {
          prunable = false;
          for (const e of doc.errors) await this.report(result, { file, document: index, message: `YAML syntax error: ${e.message}` });
          continue;
        }
        const value = doc.toJS() as unknown;
        if (value === null || value === undefined) continue;
        const key = await this.applyDocument(file, index, value, result);
        if (key) declared.add(keyString(key));
        else if (key === undefined) prunable = false;
      }
    }
    if (prunable) await this.prune(file, declared, result);
    return this.finish(result);
  }

  private finish(result: FileSyncResult): FileSyncResult {
    if (result.problems.length) this.problems.set(result.file, result.problems);
    else this.problems.delete(result.file);
    if (result.applied.length || result.pruned.length) {
      this.log.info('manifest file synced', { file: result.file, applied: result.applied, pruned: result.pruned, problems: result.problems.length });
    }
    return result;
  }

  /**
   * Returns the document's key when it identifies a resource (even if the write failed, so that a
   * later-invalid edit does not prune the existing object), and undefined when its identity is unknown.
   */
  private async applyDocument(file: string, index: number, value: unknown, result: FileSyncResult): Promise<Key | undefined> {
    const problem = (message: string, field?: string) => this.report(result, { file, document: index, field, message });
    if (typeof value !== 'object' || Array.isArray(value)) {
      await problem('document is not a mapping (expected apiVersion, kind, metadata, spec)');
      return undefined;
    }
    const doc = value as Resource;
    if (typeof doc.kind !== 'string' || !doc.kind) {
      await problem('kind is missing', 'kind');
      return undefined;
    }
    const info = this.registry.get(doc.kind);
    if (!info) {
      await problem(`unknown kind "${doc.kind}" (known: ${this.registry.kinds().map((k) => k.kind).join(', ')})`, 'kind');
      return undefined;
    }
    if (doc.apiVersion !== info.apiVersion) {
      await problem(`apiVersion "${doc.apiVersion}" does not serve ${doc.kind}; use ${info.apiVersion}`, 'apiVersion');
      return undefined;
    }
    const name = doc.metadata?.name;
    if (typeof name !== 'string' || !name) {
      await problem('metadata.name is missing', 'metadata.name');
      return undefined;
    }
    const namespace = info.scope === 'Namespaced' ? (doc.metadata.namespace ?? 'default') : undefined;
    const key: Key = { kind: info.kind, namespace, name };

    const desired: Resource = {
      apiVersion: info.apiVersion,
      kind: info.kind,
      metadata: {
        name,
        ...(namespace ? { namespace } : {}),
        labels: { ...(doc.metadata.labels ?? {}), [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
        annotations: { ...(doc.metadata.annotations ?? {}), [SOURCE_FILE_ANNOTATION]: file, [SOURCE_DIR_ANNOTATION]: this.dir },
      },
      ...(doc.spec !== undefined ? { spec: doc.spec } : {}),
    };

    try {
      const outcome = await this.upsert(desired, file);
      if (outcome === 'applied') result.applied.push(keyString(key));
      else result.unchanged.push(keyString(key));
    } catch (err) {
      if (isStoreError(err) && err.causes.length) {
        for (const c of err.causes) await problem(`${c.field}: ${c.message}`, c.field);
      } else {
        await problem(isStoreError(err) ? err.message : `apply failed: ${(err as Error).message}`);
        if (!isStoreError(err)) this.log.error('unexpected apply failure', { file, document: index, err });
      }
    }
    return key;
  }

  /** Create or replace from the file; retried on Conflict because controllers write status concurrently. */
  private async upsert(desired: Resource, file: string): Promise<'applied' | 'unchanged'> {
    const { kind, name, namespace } = { kind: desired.kind, name: desired.metadata.name, namespace: desired.metadata.namespace };
    for (let attempt = 0; ; attempt++) {
      let current: Resource | undefined;
      try {
        current = await this.store.get<Resource>(kind, namespace, name);
      } catch (err) {
        if (!isStoreError(err, 'NotFound')) throw err;
      }
      const owner = current?.metadata.annotations?.[SOURCE_FILE_ANNOTATION];
      if (owner && owner !== file && current?.metadata.annotations?.[SOURCE_DIR_ANNOTATION] === this.dir) {
        throw new StoreError('Conflict', `${kind} "${name}" is already declared in ${owner}; a resource may live in one file only`);
      }
      try {
        if (!current) {
          await this.store.create(structuredClone(desired));
          return 'applied';
        }
        const next: Resource = {
          ...current,
          metadata: {
            ...current.metadata,
            labels: desired.metadata.labels,
            annotations: desired.metadata.annotations,
          },
          spec: mergeDeclaredSpec(kind, desired.spec, current.spec),
        };
        const before = current.metadata.resourceVersion;
        const written = await this.store.update(next);
        return written.metadata.resourceVersion === before ? 'unchanged' : 'applied';
      } catch (err) {
        if ((isStoreError(err, 'Conflict') || isStoreError(err, 'AlreadyExists')) && attempt < 5) continue;
        throw err;
      }
    }
  }

  private async managedResources(): Promise<Resource[]> {
    const out: Resource[] = [];
    for (const info of this.registry.kinds()) {
      const { items } = await this.store.list(info.kind, { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` });
      for (const obj of items) if (obj.metadata.annotations?.[SOURCE_DIR_ANNOTATION] === this.dir) out.push(obj);
    }
    return out;
  }

  private async prune(file: string, declared: Set<string>, result: FileSyncResult): Promise<void> {
    for (const obj of await this.managedResources()) {
      if (obj.metadata.annotations?.[SOURCE_FILE_ANNOTATION] !== file) continue;
      const key = { kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name };
      if (declared.has(keyString(key))) continue;
      if (obj.metadata.deletionTimestamp) continue;
      try {
        await this.store.delete(obj.kind, obj.metadata.namespace, obj.metadata.name);
        result.pruned.push(keyString(key));
        await this.events.record(key, 'Normal', 'ManifestPruned', `removed from ${file}, so deleted`);
      } catch (err) {
        if (!isStoreError(err, 'NotFound')) await this.report(result, { file, message: `prune of ${keyString(key)} failed: ${(err as Error).message}` });
      }
    }
  }

  private async report(result: FileSyncResult, p: ManifestProblem): Promise<void> {
    result.problems.push(p);
    const where = `${p.file}${p.document !== undefined ? ` document ${p.document}` : ''}`;
    this.log.warn('manifest rejected', { file: p.file, document: p.document, field: p.field, error: p.message });
    try {
      await this.events.record({ kind: 'Manifest', name: p.file }, 'Warning', 'ManifestInvalid', `${where}: ${p.message}`);
    } catch (err) {
      this.log.error('could not record manifest event', { err });
    }
  }
}

/** Every YAML/JSON file under dir (recursively, skipping dot-entries), as '/'-separated relative paths. */
export async function listYamlFiles(dir: string, prefix = ''): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(path.join(dir, prefix), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.')) continue;
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listYamlFiles(dir, rel)));
    else if (e.isFile() && YAML_FILE.test(e.name)) out.push(rel);
  }
  return out;
}
