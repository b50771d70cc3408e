// The EventSink of Kubernetes mode: core/v1 Events on the apiserver, where `kubectl get events` and
// `kubectl describe` find them beside every other controller's. Repeats are counted as client-go's
// correlator does: the first occurrence is a create, a repeat of the same (object, type, reason,
// message) within this process patches count and lastTimestamp of the event it created; an event
// the apiserver has dropped meanwhile (events expire, an hour by default) is created again.
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { badRequest, isStoreError } from '../store/errors.ts';
import { toStoreError } from '../store/kube-store.ts';
import type { EventListOptions, EventSink, EventType, InvolvedObject, KubeEvent } from './recorder.ts';

export interface KubeEventSinkOptions {
  kubeConfig: k8s.KubeConfig;
  /** source.component and reportingComponent of the events written. */
  component?: string;
  /** reportingInstance (the pod's name). */
  instance?: string;
  /** Occurrences remembered for counting repeats (least recently seen go first). */
  maxTracked?: number;
  now?: () => Date;
}

const MAX_MESSAGE = 1024;
const MAX_REASON = 128;
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const seconds = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');
const str = (v: unknown): string => (v instanceof Date ? seconds(v) : typeof v === 'string' ? v : '');

export class KubeEventSink implements EventSink {
  private readonly api: k8s.CoreV1Api;
  private readonly component: string;
  private readonly instance: string | undefined;
  private readonly maxTracked: number;
  private readonly now: () => Date;
  private readonly tracked = new Map<string, { namespace: string; name: string; count: number }>();

  constructor(opts: KubeEventSinkOptions) {
    this.api = opts.kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.component = opts.component ?? 'gantry-controller';
    this.instance = opts.instance;
    this.maxTracked = Math.max(1, opts.maxTracked ?? 4096);
    this.now = opts.now ?? (() => new Date());
  }

  async record(obj: InvolvedObject, type: EventType, reason: string, message: string): Promise<KubeEvent> {
    if (!obj || typeof obj.kind !== 'string' || !obj.kind || typeof obj.name !== 'string' || !obj.name) throw badRequest('an event needs the involved object\'s kind and name');
    if (type !== 'Normal' && type !== 'Warning') throw badRequest(`event type must be Normal or Warning, not "${String(type)}"`);
    if (typeof reason !== 'string' || !reason) throw badRequest('an event needs a reason');
    reason = reason.slice(0, MAX_REASON);
    message = String(message ?? '');
    if (message.length > MAX_MESSAGE) message = message.slice(0, MAX_MESSAGE - 1) + '…';
    const namespace = obj.namespace || 'default';
    const key = createHash('sha256').update(JSON.stringify([obj.kind, obj.namespace ?? '', obj.name, obj.uid ?? '', type, reason, message])).digest('base64url');
    const now = this.now();
    const time = new Date(seconds(now));
    const seen = this.tracked.get(key);
    if (seen) {
      this.tracked.delete(key);
      try {
        const patched = await this.api.patchNamespacedEvent({ name: seen.name, namespace: seen.namespace, body: { count: seen.count + 1, lastTimestamp: time } }, mergePatch);
        this.track(key, { ...seen, count: patched.count ?? seen.count + 1 });
        return toKubeEvent(patched);
      } catch (err) {
        const e = toStoreError(err, `patch event ${seen.namespace}/${seen.name}`);
        if (!isStoreError(e, 'NotFound')) throw e;
      }
    }
    const nanos = BigInt(now.getTime()) * 1_000_000n + BigInt(this.tracked.size % 1_000_000);
    const body: k8s.CoreV1Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${obj.name}.${nanos.toString(16)}`, namespace },
      involvedObject: { kind: obj.kind, name: obj.name, ...(obj.namespace ? { namespace: obj.namespace } : {}), ...(obj.uid ? { uid: obj.uid } : {}), ...(obj.apiVersion ? { apiVersion: obj.apiVersion } : {}) },
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: time,
      lastTimestamp: time,
      source: { component: this.component },
      reportingComponent: this.component,
      ...(this.instance ? { reportingInstance: this.instance } : {}),
    };
    let created: k8s.CoreV1Event;
    try {
      created = await this.api.createNamespacedEvent({ namespace, body });
    } catch (err) {
      throw toStoreError(err, `create event for ${obj.kind} ${obj.name}`);
    }
    this.track(key, { namespace, name: created.metadata?.name ?? body.metadata!.name!, count: created.count ?? 1 });
    return toKubeEvent(created);
  }

  /** Newest first (by last occurrence), filtered by the apiserver's event field selectors. */
  async list(opts: EventListOptions = {}): Promise<KubeEvent[]> {
    if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit <= 0)) throw badRequest(`limit must be a positive integer, not ${String(opts.limit)}`);
    const fields: string[] = [];
    const add = (field: string, v: string | undefined) => {
      if (v !== undefined) fields.push(`${field}=${v}`);
    };
    add('involvedObject.kind', opts.kind);
    add('involvedObject.name', opts.name);
    add('involvedObject.uid', opts.uid);
    add('type', opts.type);
    add('reason', opts.reason);
    add('metadata.name', opts.eventName);
    const fieldSelector = fields.length ? fields.join(',') : undefined;
    let list: k8s.CoreV1EventList;
    try {
      list = opts.namespace ? await this.api.listNamespacedEvent({ namespace: opts.namespace, fieldSelector }) : await this.api.listEventForAllNamespaces({ fieldSelector });
    } catch (err) {
      throw toStoreError(err, 'list events');
    }
    const items = list.items.map(toKubeEvent).sort((a, b) => (b.lastTimestamp.localeCompare(a.lastTimestamp) || b.metadata.name.localeCompare(a.metadata.name)));
    return opts.limit ? items.slice(0, opts.limit) : items;
  }

  private track(key: string, v: { namespace: string; name: string; count: number }): void {
    this.tracked.set(key, v);
    if (this.tracked.size > this.maxTracked) this.tracked.delete(this.tracked.keys().next().value as string);
  }
}

function toKubeEvent(e: k8s.CoreV1Event): KubeEvent {
  const o = e.involvedObject ?? { kind: '', name: '' };
  const first = str(e.firstTimestamp) || str(e.eventTime) || str(e.metadata?.creationTimestamp);
  const component = e.source?.component ?? e.reportingComponent ?? '';
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      name: e.metadata?.name ?? '',
      namespace: e.metadata?.namespace ?? 'default',
      uid: e.metadata?.uid ?? '',
      resourceVersion: e.metadata?.resourceVersion ?? '',
      creationTimestamp: str(e.metadata?.creationTimestamp) || first,
    },
    involvedObject: {
      kind: o.kind ?? '',
      name: o.name ?? '',
      ...(o.namespace ? { namespace: o.namespace } : {}),
      ...(o.uid ? { uid: o.uid } : {}),
      ...(o.apiVersion ? { apiVersion: o.apiVersion } : {}),
    },
    reason: e.reason ?? '',
    message: e.message ?? '',
    type: e.type === 'Warning' ? 'Warning' : 'Normal',
    count: e.count ?? 1,
    firstTimestamp: first,
    lastTimestamp: str(e.lastTimestamp) || first,
    source: { component },
    reportingComponent: e.reportingComponent || component,
  };
}
