// The ResourceStore over a Kubernetes API server (@kubernetes/client-node 1.4): CustomObjectsApi for
// the verbs, Watch for the changes. The apiserver does what SqliteStore does itself — validation,
// generation, finalizers, garbage collection, resourceVersion preconditions — so this store is only
// a translation: a call becomes one request, a refusal becomes the StoreError its Status names.
//
// What it does not assume of the server (so Gantry's own /k8s endpoint and a real apiserver behave
// the same through it):
// - resourceVersions are opaque strings, per collection: never compared, never used across kinds;
// - a watch without a resourceVersion would start with every existing object on a real apiserver and
//   with none on Gantry's: "from now" is therefore a list (limit 1) for the collection's version,
//   then a watch from it;
// - a watch ends when the server likes (timeoutSeconds, a restart, a proxy): it is resumed from the
//   last version seen (events and bookmarks); a 410 there, or a server that cannot be reached, ends
//   the watch with one ERROR event and the consumer lists again (the informer's relist);
// - a watch request refused outright (a bad selector) answers without a body client-node hands on:
//   the same query is listed once to get the server's message.
import * as k8s from '@kubernetes/client-node';
import type { AnyResource, Resource } from '../../crds/resource.ts';
import { rootLogger, type Logger } from '../../lib/log.ts';
import { badRequest, isStoreErrorReason, reasonOfCode, StoreError } from './errors.ts';
import type {
  DeleteOptions,
  KindScope,
  ListOptions,
  ResourceList,
  ResourceStore,
  UpdateOptions,
  Watch,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from './types.ts';

/** What the store needs to know of a kind to address it: its scope and REST coordinates. */
export interface KubeKind extends KindScope {
  group: string;
  version: string;
  plural: string;
}

export interface KubeKinds {
  get(kind: string): KubeKind | undefined;
}

export interface KubeStoreOptions {
  kubeConfig: k8s.KubeConfig;
  kinds: KubeKinds;
  log?: Logger;
  /** Pause before resuming a watch the server closed (ms). */
  rewatchDelayMs?: number;
  /** Asks the server to end each watch request after this long (client-go's reflector asks for 5–10
   *  minutes), so a connection that died silently is noticed; the watch itself goes on. Default: the
   *  server's own limit. */
  watchTimeoutSeconds?: number;
}

interface StatusLike {
  kind?: string;
  reason?: string;
  message?: string;
  code?: number;
  details?: { name?: string; kind?: string; causes?: { field?: string; message?: string }[] };
}

const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
const DEFAULT_NS = 'default';
const DRY_RUN = 'All';
const mergePatchHeader = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** Connection failures a fetch reports (no HTTP answer at all). */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** An apiserver's answer (or its absence) as the StoreError it means. */
export function toStoreError(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  if (err instanceof k8s.ApiException) {
    const status = parseStatus(err.body);
    const code = typeof status?.code === 'number' ? status.code : err.code;
    const reason = isStoreErrorReason(status?.reason) ? status.reason : status?.reason === 'Expired' ? 'Gone' : reasonOfCode(code);
    const causes = (status?.details?.causes ?? []).map((c) => ({ field: c.field ?? '', message: c.message ?? '' }));
    return new StoreError(reason, status?.message || `${what}: HTTP ${err.code}`, { kind: status?.details?.kind, name: status?.details?.name, causes, cause: err });
  }
  const e = err as { code?: string; errno?: string; type?: string; message?: string; cause?: { code?: string } };
  const net = e?.code ?? e?.errno ?? e?.cause?.code;
  if ((net && NETWORK_CODES.has(net)) || e?.type === 'system' || e?.type === 'request-timeout') {
    return new StoreError('ServiceUnavailable', `${what}: the Kubernetes API server cannot be reached: ${e.message ?? String(err)}`, { cause: err });
  }
  return new StoreError('InternalError', `${what}: ${e?.message ?? String(err)}`, { cause: err });
}

function parseStatus(body: unknown): StatusLike | undefined {
  if (isObject(body)) return body as StatusLike;
  if (typeof body !== 'string' || !body) return undefined;
  try {
    const v = JSON.parse(body) as unknown;
    return isObject(v) ? (v as StatusLike) : undefined;
  } catch {
    return undefined;
  }
}

/** The JSON the request will carry, refusing what cannot be sent (a cycle, a BigInt) as BadRequest. */
function jsonOf<T>(v: T, what: string): T {
  try {
    return JSON.parse(JSON.stringify(v)) as T;
  } catch (err) {
    throw badRequest(`${what} cannot be encoded as JSON: ${(err as Error).message}`);
  }
}

export class KubeStore implements ResourceStore {
  private readonly api: k8s.CustomObjectsApi;
  private readonly watcher: k8s.Watch;
  private readonly kinds: KubeKinds;
  private readonly log: Logger;
  private readonly rewatchDelayMs: number;
  private readonly watchTimeoutSeconds: number | undefined;
  private readonly watches = new Set<{ stop(): void }>();
  private closed = false;

  constructor(opts: KubeStoreOptions) {
    this.api = opts.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    this.watcher = new k8s.Watch(opts.kubeConfig);
    this.kinds = opts.kinds;
    this.log = opts.log ?? rootLogger.child({ component: 'kube-store' });
    this.rewatchDelayMs = opts.rewatchDelayMs ?? 1000;
    this.watchTimeoutSeconds = opts.watchTimeoutSeconds;
  }

  // ---- addressing ---------------------------------------------------------------------------------

  private info(kind: unknown): KubeKind {
    if (typeof kind !== 'string' || !kind) throw badRequest('kind is required');
    const info = this.kinds.get(kind);
    if (!info) throw badRequest(`unknown kind "${kind}"`);
    return info;
  }

  /** The namespace a call addresses: none for cluster-scoped kinds, `default` when not given. */
  private ns(info: KubeKind, namespace: string | undefined): string | undefined {
    return info.scope === 'Cluster' ? undefined : namespace || DEFAULT_NS;
  }

  private coords(info: KubeKind) {
    return { group: info.group, version: info.version, plural: info.plural };
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError('ServiceUnavailable', `${what}: the store is closed`);
    try {
      return await fn();
    } catch (err) {
      throw toStoreError(err, what);
    }
  }

  /** An object to write: of a known kind, JSON-encodable; the body sent is a copy (the caller's is not touched). */
  private body(input: unknown, what: string): { info: KubeKind; obj: Resource } {
    if (!isObject(input)) throw badRequest(`${what}: the object must be a JSON object`);
    const info = this.info(input.kind);
    const obj = jsonOf(input as Resource, what);
    if (!isObject(obj.metadata)) obj.metadata = {} as Resource['metadata'];
    obj.apiVersion ??= info.apiVersion;
    if (info.scope === 'Cluster') delete obj.metadata.namespace;
    else obj.metadata.namespace ||= DEFAULT_NS;
    return { info, obj };
  }

  // ---- reads ----------------------------------------------------------------------------------------

  async get<T extends AnyResource = Resource>(kind: string, namespace: string | undefined, name: string): Promise<T> {
    const info = this.info(kind);
    const ns = this.ns(info, namespace);
    return this.call(`get ${kind} ${name}`, () =>
      ns === undefined
        ? this.api.getClusterCustomObject({ ...this.coords(info), name })
        : this.api.getNamespacedCustomObject({ ...this.coords(info), namespace: ns, name }),
    ) as Promise<T>;
  }

  async list<T extends AnyResource = Resource>(kind: string, opts: ListOptions = {}): Promise<ResourceList<T>> {
    const info = this.info(kind);
    if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 0)) throw badRequest(`limit must be a non-negative integer, not ${String(opts.limit)}`);
    const q = {
      ...this.coords(info),
      labelSelector: opts.labelSelector || undefined,
      fieldSelector: opts.fieldSelector || undefined,
      limit: opts.limit || undefined,
      _continue: opts.continue || undefined,
    };
    const ns = info.scope === 'Cluster' || !opts.namespace ? undefined : opts.namespace;
    const res = (await this.call(`list ${kind}`, () =>
      info.scope === 'Cluster'
        ? this.api.listClusterCustomObject(q)
        : ns === undefined
          ? this.api.listCustomObjectForAllNamespaces(q)
          : this.api.listNamespacedCustomObject({ ...q, namespace: ns }),
    )) as { items?: T[]; metadata?: { resourceVersion?: string; continue?: string } };
    for (const item of res.items ?? []) {
      // A list's items carry no apiVersion/kind on a real apiserver when served as a List of one kind.
      (item as Resource).apiVersion ??= info.apiVersion;
      (item as Resource).kind ??= info.kind;
    }
    return {
      items: res.items ?? [],
      resourceVersion: res.metadata?.resourceVersion ?? '',
      ...(res.metadata?.continue ? { continue: res.metadata.continue } : {}),
    };
  }

  // ---- writes ---------------------------------------------------------------------------------------

  async create<T extends AnyResource = Resource>(input: T, opts: WriteOptions = {}): Promise<T> {
    const { info, obj } = this.body(input, 'create');
    const ns = this.ns(info, obj.metadata.namespace);
    const dryRun = opts.dryRun ? DRY_RUN : undefined;
    return this.call(`create ${info.kind} ${obj.metadata.name ?? ''}`, () =>
      ns === undefined
        ? this.api.createClusterCustomObject({ ...this.coords(info), body: obj, dryRun })
        : this.api.createNamespacedCustomObject({ ...this.coords(info), namespace: ns, body: obj, dryRun }),
    ) as Promise<T>;
  }

  async update<T extends AnyResource = Resource>(input: T, opts: WriteOptions = {}): Promise<T> {
    const { info, obj } = this.body(input, 'update');
    const ns = this.ns(info, obj.metadata.namespace);
    const name = obj.metadata.name;
    const dryRun = opts.dryRun ? DRY_RUN : undefined;
    return this.call(`update ${info.kind} ${name}`, () =>
      ns === undefined
        ? this.api.replaceClusterCustomObject({ ...this.coords(info), name, body: obj, dryRun })
        : this.api.replaceNamespacedCustomObject({ ...this.coords(info), namespace: ns, name, body: obj, dryRun }),
    ) as Promise<T>;
  }

  async updateStatus<T extends AnyResource = Resource>(input: T): Promise<T> {
    const { info, obj } = this.body(input, 'update status');
    const ns = this.ns(info, obj.metadata.namespace);
    const name = obj.metadata.name;
    return this.call(`update status of ${info.kind} ${name}`, () =>
      ns === undefined
        ? this.api.replaceClusterCustomObjectStatus({ ...this.coords(info), name, body: obj })
        : this.api.replaceNamespacedCustomObjectStatus({ ...this.coords(info), namespace: ns, name, body: obj }),
    ) as Promise<T>;
  }

  async patch<T extends AnyResource = Resource>(kind: string, namespace: string | undefined, name: string, patch: unknown, opts: UpdateOptions = {}): Promise<T> {
    const info = this.info(kind);
    if (!isObject(patch)) throw badRequest(`a merge patch of ${kind} "${name}" must be a JSON object`);
    const body = withPrecondition(jsonOf(patch, 'the patch'), opts.resourceVersion);
    // Status is the subresource's: an apiserver ignores it in a main-resource patch; say so by not sending it.
    if (info.hasStatusSubresource !== false) delete body.status;
    const ns = this.ns(info, namespace);
    const dryRun = opts.dryRun ? DRY_RUN : undefined;
    return this.call(`patch ${kind} ${name}`, () =>
      ns === undefined
        ? this.api.patchClusterCustomObject({ ...this.coords(info), name, body, dryRun }, mergePatchHeader)
        : this.api.patchNamespacedCustomObject({ ...this.coords(info), namespace: ns, name, body, dryRun }, mergePatchHeader),
    ) as Promise<T>;
  }

  async patchStatus<T extends AnyResource = Resource>(kind: string, namespace: string | undefined, name: string, statusPatch: unknown, opts: UpdateOptions = {}): Promise<T> {
    const info = this.info(kind);
    if (statusPatch !== null && !isObject(statusPatch)) throw badRequest(`a status patch of ${kind} "${name}" must be a JSON object or null`);
    const body = withPrecondition({ status: jsonOf(statusPatch, 'the status patch') }, opts.resourceVersion);
    const ns = this.ns(info, namespace);
    return this.call(`patch status of ${kind} ${name}`, () =>
      ns === undefined
        ? this.api.patchClusterCustomObjectStatus({ ...this.coords(info), name, body }, mergePatchHeader)
        : this.api.patchNamespacedCustomObjectStatus({ ...this.coords(info), namespace: ns, name, body }, mergePatchHeader),
    ) as Promise<T>;
  }

  async delete<T extends AnyResource = Resource>(kind: string, namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<T> {
    const info = this.info(kind);
    const ns = this.ns(info, namespace);
    const body: k8s.V1DeleteOptions = {
      propagationPolicy: opts.propagationPolicy ?? 'Background',
      ...(opts.resourceVersion ? { preconditions: { resourceVersion: opts.resourceVersion } } : {}),
      ...(opts.dryRun ? { dryRun: [DRY_RUN] } : {}),
    };
    const res = (await this.call(`delete ${kind} ${name}`, () =>
      ns === undefined
        ? this.api.deleteClusterCustomObject({ ...this.coords(info), name, body })
        : this.api.deleteNamespacedCustomObject({ ...this.coords(info), namespace: ns, name, body }),
    )) as unknown;
    // An apiserver answers the object (deleted, or held by finalizers); some versions answer a Success
    // Status for an object removed at once: what the caller gets then is the object's identity.
    if (isObject(res) && res.kind === 'Status') {
      return { apiVersion: info.apiVersion, kind: info.kind, metadata: { name, ...(ns ? { namespace: ns } : {}), uid: res.details?.uid } } as unknown as T;
    }
    return res as T;
  }

  // ---- watch ----------------------------------------------------------------------------------------

  async watch(opts: WatchOptions, onEvent: (ev: WatchEvent) => void): Promise<Watch> {
    const info = this.info(opts.kind);
    if (this.closed) throw new StoreError('ServiceUnavailable', 'watch: the store is closed');
    const ns = info.scope === 'Cluster' || !opts.namespace ? undefined : opts.namespace;
    const path = `/apis/${info.group}/${info.version}${ns ? `/namespaces/${encodeURIComponent(ns)}` : ''}/${info.plural}`;
    const listOpts = { namespace: ns, labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector };
    // "From now" is a version, never an absent one (see the top of this file).
    let rv = opts.resourceVersion ?? (await this.list(info.kind, { ...listOpts, limit: 1 })).resourceVersion;
    const bookmarks = (opts.bookmarkIntervalMs ?? 0) > 0;

    let stopped = false;
    let abort: AbortController | undefined;
    let retry: NodeJS.Timeout | undefined;
    const handle = {
      stop: () => {
        if (stopped) return;
        stopped = true;
        if (retry) clearTimeout(retry);
        abort?.abort();
        this.watches.delete(handle);
      },
    };
    const fail = (reason: StatusLike & { reason: string; code: number }) => {
      if (stopped) return;
      handle.stop();
      onEvent({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', ...reason } as unknown as Resource });
    };

    /** One watch request from rv. Resolves once the stream is open; throws when the server refused it. */
    const open = async (): Promise<void> => {
      let refused: { statusCode?: number } | undefined;
      let answered = false;
      const done = (err: unknown) => {
        if (stopped) return;
        if (!answered) {
          refused = (err ?? {}) as { statusCode?: number };
          return;
        }
        if (err && !(err instanceof Error && err.name === 'AbortError')) {
          const e = toStoreError(err, `watch ${info.kind}`);
          if (e.reason === 'ServiceUnavailable') return fail({ reason: e.reason, code: e.code, message: e.message });
        }
        // The server ended the stream (timeout, restart): go on from the last version seen.
        retry = setTimeout(() => {
          retry = undefined;
          if (!stopped) void open().catch((er: unknown) => {
            const se = toStoreError(er, `watch ${info.kind}`);
            fail({ reason: se.reason, code: se.code, message: se.message });
          });
        }, this.rewatchDelayMs);
      };
      const callback = (type: string, obj: any) => {
        if (stopped) return;
        if (type === 'ERROR') {
          const status = parseStatus(obj) ?? {};
          const code = typeof status.code === 'number' ? status.code : 500;
          const reason = status.reason === 'Expired' || code === 410 ? 'Gone' : (status.reason ?? reasonOfCode(code));
          return fail({ ...status, reason, code, message: status.message ?? 'watch error' });
        }
        if (!isObject(obj)) return;
        const v = obj.metadata?.resourceVersion;
        if (typeof v === 'string' && v) rv = v;
        if (type === 'BOOKMARK') return onEvent({ type: 'BOOKMARK', object: obj as Resource });
        if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
        (obj as Resource).apiVersion ??= info.apiVersion;
        (obj as Resource).kind ??= info.kind;
        onEvent({ type, object: obj as Resource });
      };
      const query = {
        resourceVersion: rv,
        labelSelector: opts.labelSelector || undefined,
        fieldSelector: opts.fieldSelector || undefined,
        allowWatchBookmarks: bookmarks ? true : undefined,
        timeoutSeconds: this.watchTimeoutSeconds,
      };
      let controller: AbortController;
      try {
        controller = await this.watcher.watch(path, query, callback, done);
      } catch (err) {
        throw toStoreError(err, `watch ${info.kind}`);
      }
      answered = true;
      if (stopped) return void controller.abort();
      abort = controller;
      if (!refused) return;
      // Refused before a stream began: a status code and nothing else. Find the server's words.
      const code = refused.statusCode ?? 0;
      if (code === 410) throw new StoreError('Gone', `watch ${info.kind}: too old resource version: ${rv}`);
      if (code === 400 || code === 422) {
        await this.list(info.kind, listOpts); // throws the server's BadRequest, with its message
      }
      if (!code) throw toStoreError(refused, `watch ${info.kind}`);
      throw new StoreError(reasonOfCode(code), `watch ${info.kind} was refused: HTTP ${code}`);
    };

    this.watches.add(handle);
    try {
      await open();
    } catch (err) {
      handle.stop();
      throw err;
    }
    return handle;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of [...this.watches]) w.stop();
  }
}

/** A merge patch that only applies at this resourceVersion (an apiserver reads it as a precondition). */
function withPrecondition(patch: Record<string, any>, resourceVersion: string | undefined): Record<string, any> {
  if (resourceVersion === undefined) return patch;
  return { ...patch, metadata: { ...(isObject(patch.metadata) ? patch.metadata : {}), resourceVersion } };
}
