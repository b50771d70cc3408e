import type { AnyResource, FieldError, Resource } from '../../crds/resource.ts';

export interface ListOptions {
  namespace?: string;           // undefined = all namespaces (or cluster-scoped kinds)
  labelSelector?: string;       // Kubernetes syntax: a=b,c!=d,e in (x,y),f notin (z),g,!h
  fieldSelector?: string;       // metadata.name=x, metadata.namespace!=y (what an apiserver supports for custom resources)
  limit?: number;
  continue?: string;            // opaque token from a previous page
}

export interface ResourceList<T extends AnyResource = Resource> {
  items: T[];
  /** The store's resourceVersion at the time of the list: watch from here to miss nothing. */
  resourceVersion: string;
  continue?: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent<T extends AnyResource = Resource> {
  type: WatchEventType;
  /** For BOOKMARK only metadata.resourceVersion is meaningful; for ERROR a Status body. */
  object: T;
}

export interface WatchOptions {
  /** One kind per watch, as an apiserver serves them (there is no watch over every kind). */
  kind: string;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Deliver every change after this version (replayed from history). Omitted: only new changes.
   *  "0" (Kubernetes' "any version"): the current objects as ADDED events, then every change.
   *  Older than the history kept, or newer than the store: StoreError Gone (list again). */
  resourceVersion?: string;
  /** Send a BOOKMARK with the current resourceVersion at this interval (ms); 0 = never. */
  bookmarkIntervalMs?: number;
}

export interface Watch {
  /** Stops delivery; safe to call twice. */
  stop(): void;
}

export interface DeleteOptions {
  /** Only delete when the object still has this resourceVersion. */
  resourceVersion?: string;
  /** Background (default): dependents are deleted after the owner. Orphan: ownerReferences are removed. */
  propagationPolicy?: 'Background' | 'Orphan';
  dryRun?: boolean;
}

export interface WriteOptions {
  /** Run every check and return what would be stored, but store nothing and notify no watcher
   *  (Kubernetes' dryRun=All). The answer keeps the stored resourceVersion (none for a create). */
  dryRun?: boolean;
}

export interface UpdateOptions extends WriteOptions {
  /** Optimistic concurrency: fail with Conflict when the stored object has a different version. */
  resourceVersion?: string;
}

/**
 * The durable home of desired (spec) and observed (status) state, with Kubernetes object semantics.
 * Every method throws StoreError (NotFound, AlreadyExists, Conflict, Invalid, Gone, BadRequest).
 * Kind is the CRD Kind ('GameServer'); namespace is ignored for cluster-scoped kinds and defaults
 * to 'default' for namespaced ones.
 */
export interface ResourceStore {
  create<T extends AnyResource = Resource>(obj: T, opts?: WriteOptions): Promise<T>;
  get<T extends AnyResource = Resource>(kind: string, namespace: string | undefined, name: string): Promise<T>;
  list<T extends AnyResource = Resource>(kind: string, opts?: ListOptions): Promise<ResourceList<T>>;
  /** Replaces metadata (labels, annotations, finalizers, ownerReferences) and spec; never status.
   *  obj.metadata.resourceVersion is required and must match. */
  update<T extends AnyResource = Resource>(obj: T, opts?: WriteOptions): Promise<T>;
  /** RFC 7386 merge patch of metadata/spec (status in the patch is ignored). */
  patch<T extends AnyResource = Resource>(kind: string, namespace: string | undefined, name: string, patch: unknown, opts?: UpdateOptions): Promise<T>;
  /** Replaces status only (obj.metadata.resourceVersion required); never touches spec or generation. */
  updateStatus<T extends AnyResource = Resource>(obj: T): Promise<T>;
  /** RFC 7386 merge patch of status only. */
  patchStatus<T extends AnyResource = Resource>(kind: string, namespace: string | undefined, name: string, statusPatch: unknown, opts?: UpdateOptions): Promise<T>;
  /** Returns the object as it is after the call: with deletionTimestamp when finalizers hold it, else as it was when removed. */
  delete<T extends AnyResource = Resource>(kind: string, namespace: string | undefined, name: string, opts?: DeleteOptions): Promise<T>;
  /** Delivers changes until stop(). A watch the store cannot continue ends with one ERROR event (a
   *  Status: 410 Gone when the consumer must list again; another code when the store is unreachable). */
  watch(opts: WatchOptions, onEvent: (ev: WatchEvent) => void): Promise<Watch>;
  close(): Promise<void>;
}

/**
 * A store in this process that can tell its newest revision cheaply (SqliteStore: one number in
 * memory, moved by every commit). A remote store cannot: an apiserver's resourceVersions are opaque
 * and per collection. Callers that use it as a cache key (ListCache) fall back to reading when the
 * store is not local.
 */
export interface LocalRevision {
  /** The newest resourceVersion committed, across every kind. */
  currentResourceVersion(): Promise<string>;
}

export const hasLocalRevision = (store: ResourceStore): store is ResourceStore & LocalRevision =>
  typeof (store as Partial<LocalRevision>).currentResourceVersion === 'function';

/** What the store needs to know about a kind. crds/registry.ts's KindInfo is a superset. */
export interface KindScope {
  kind: string;
  scope: 'Namespaced' | 'Cluster';
  apiVersion: string;
  /** With a status subresource (the default), spec writes ignore status and status writes ignore the rest. */
  hasStatusSubresource?: boolean;
}

/**
 * The schema the store validates writes with. CrdRegistry satisfies it as is
 * (`get` returns its KindInfo; `validate` applies schema defaults in place and returns [] when valid).
 */
export interface SchemaValidator {
  get(kind: string): KindScope | undefined;
  validate(obj: Resource): FieldError[];
}
