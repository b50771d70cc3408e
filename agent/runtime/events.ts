// Observed state of the game-server containers, from Docker's event stream (no polling loop).
//
// Each event for a labelled server container triggers ONE inspect of that container and the state
// reported is what the inspect says (falling back to the event's own attributes when the container
// is already gone). Inspecting instead of trusting event semantics keeps the report truthful even when
// events and the initial listing interleave: whatever is processed last is the newest truth.
// Processing is serialised per container, so reports for one container never reorder.
//
// When the stream ends or fails (dockerd restarted, socket gone) the watcher reconnects with jittered
// exponential backoff, then re-lists the labelled containers and reports each one (and `removed` for
// those that vanished meanwhile): a full, truthful snapshot after every (re)connect.

import { EventEmitter } from 'node:events';
import type Docker from 'dockerode';
import type { Logger } from '../../lib/log.ts';
import { LABEL_NAME, LABEL_NAMESPACE, LABEL_ROLE, LABEL_SPEC_HASH, LABEL_UID } from './spec.ts';
import type { ContainerScope } from './scope.ts';

export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'dead' | 'removed';

export interface PublishedPort {
  containerPort: number;
  protocol: 'TCP' | 'UDP';
  hostIp: string;
  hostPort: number;
}

export interface ObservedContainer {
  uid: string;
  name?: string;
  namespace?: string;
  containerId: string;
  containerName?: string;
  image?: string;
  state: ContainerState;
  exitCode?: number;
  oomKilled: boolean;
  startedAt?: string;
  finishedAt?: string;
  specHash?: string;
  ports: PublishedPort[];
  labels?: Record<string, string>;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';
const realTime = (t: string | undefined): string | undefined => (t && !t.startsWith('0001-01-01') && t !== ZERO_TIME ? t : undefined);

/** Pure: a `docker inspect` result → observed state. */
export function observeFromInspect(info: Docker.ContainerInspectInfo): ObservedContainer {
  const labels = info.Config?.Labels ?? {};
  const st = info.State;
  const status = (st?.Status ?? 'created') as string;
  const state: ContainerState = (['created', 'running', 'paused', 'restarting', 'exited', 'dead'] as const).includes(status as never)
    ? (status as ContainerState)
    : 'created';
  const ports: PublishedPort[] = [];
  for (const [key, binds] of Object.entries(info.NetworkSettings?.Ports ?? {})) {
    const [port, proto] = key.split('/');
    for (const b of binds ?? []) {
      ports.push({ containerPort: Number(port), protocol: proto === 'udp' ? 'UDP' : 'TCP', hostIp: b.HostIp, hostPort: Number(b.HostPort) });
    }
  }
  const out: ObservedContainer = {
    uid: labels[LABEL_UID],
    name: labels[LABEL_NAME],
    namespace: labels[LABEL_NAMESPACE],
    containerId: info.Id,
    containerName: info.Name?.replace(/^\//, ''),
    image: info.Config?.Image,
    state,
    oomKilled: Boolean(st?.OOMKilled),
    startedAt: realTime(st?.StartedAt),
    specHash: labels[LABEL_SPEC_HASH],
    ports,
    labels,
  };
  if (state === 'exited' || state === 'dead') {
    out.exitCode = st?.ExitCode;
    out.finishedAt = realTime(st?.FinishedAt);
  }
  return out;
}

/** A Docker event as it arrives on the stream (the fields used here). */
export interface DockerEvent {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  time?: number;
  timeNano?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** Pure: best-effort state from an event alone (used when the container cannot be inspected). */
export function observeFromEvent(ev: DockerEvent, previous?: ObservedContainer): ObservedContainer | undefined {
  const attrs = ev.Actor?.Attributes ?? {};
  const uid = attrs[LABEL_UID] ?? previous?.uid;
  const id = ev.Actor?.ID ?? ev.id;
  if (!uid || !id) return undefined;
  const at = ev.timeNano ? new Date(Math.floor(ev.timeNano / 1e6)).toISOString() : ev.time ? new Date(ev.time * 1000).toISOString() : undefined;
  const base: ObservedContainer = previous && previous.containerId === id
    ? { ...previous }
    : { uid, name: attrs[LABEL_NAME], namespace: attrs[LABEL_NAMESPACE], containerId: id, containerName: attrs.name, image: attrs.image, state: 'created', oomKilled: false, ports: [], specHash: attrs[LABEL_SPEC_HASH] };
  switch (ev.Action) {
    case 'create':
      return { ...base, state: 'created' };
    case 'start':
    case 'restart':
    case 'unpause':
      return { ...base, state: 'running', startedAt: at, exitCode: undefined, finishedAt: undefined, oomKilled: false };
    case 'pause':
      return { ...base, state: 'paused' };
    case 'oom':
      return { ...base, oomKilled: true };
    case 'die': {
      const code = Number(attrs.exitCode);
      return { ...base, state: 'exited', exitCode: Number.isFinite(code) ? code : undefined, finishedAt: at };
    }
    case 'destroy':
      return { ...base, state: 'removed', ports: [] };
    default:
      return undefined;
  }
}

const RELEVANT = new Set(['create', 'start', 'restart', 'die', 'oom', 'destroy', 'pause', 'unpause', 'rename', 'update']);

/** What the watcher needs from dockerode (a fake implements it in unit tests). */
export interface EventsDocker {
  getEvents(opts: { filters: Record<string, string[]> }): Promise<NodeJS.ReadableStream>;
  listContainers(opts: { all: boolean; filters: Record<string, string[]> }): Promise<Array<{ Id: string; Labels?: Record<string, string> }>>;
  getContainer(id: string): { inspect(): Promise<Docker.ContainerInspectInfo> };
}

export interface EventWatcherOptions {
  docker: EventsDocker;
  /** Extra label filters (`key=value`) scoping this agent's containers (e.g. a test-run label). */
  scopeLabels?: Record<string, string>;
  /** The agent's container scope (node label, legacy containers by data dir); replaces scopeLabels. */
  scope?: ContainerScope;
  log?: Logger;
  backoff?: { initialMs?: number; maxMs?: number };
  /** For tests: the random source of the jitter. */
  random?: () => number;
}

export interface EventWatcherEvents {
  /** One container's new observed state. */
  state: [ObservedContainer];
  /** A full snapshot after a (re)connect: every labelled server container. */
  snapshot: [ObservedContainer[]];
  connected: [];
  disconnected: [Error | undefined];
}

export class EventWatcher extends EventEmitter<EventWatcherEvents> {
  private readonly states = new Map<string, ObservedContainer>();
  /** containerId → uid, to route events (a destroy's inspect fails). */
  private readonly byId = new Map<string, string>();
  private readonly chains = new Map<string, Promise<void>>();
  private stream: NodeJS.ReadableStream | undefined;
  private stopped = true;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly log: Logger | undefined;
  private connectedOnce?: Promise<void>;
  private resolveConnected?: () => void;

  constructor(private readonly opts: EventWatcherOptions) {
    super();
    this.log = opts.log;
  }

  /** Current observed state of every known server container, keyed by server uid. */
  get current(): Map<string, ObservedContainer> {
    return new Map(this.states);
  }

  get(uid: string): ObservedContainer | undefined {
    return this.states.get(uid);
  }

  private labelFilters(): string[] {
    if (this.opts.scope) return this.opts.scope.filters('server');
    return [LABEL_UID, `${LABEL_ROLE}=server`, ...Object.entries(this.opts.scopeLabels ?? {}).map(([k, v]) => `${k}=${v}`)];
  }

  /** Another agent's container on the same engine (scope.ts) is none of our business. */
  private owns(labels: Record<string, string> | undefined): boolean {
    return !this.opts.scope || this.opts.scope.owns({ Labels: labels });
  }

  /** Subscribes, then lists; resolves after the first snapshot. */
  start(): Promise<void> {
    if (!this.stopped) return this.connectedOnce ?? Promise.resolve();
    this.stopped = false;
    this.connectedOnce = new Promise((r) => (this.resolveConnected = r));
    void this.connect();
    return this.connectedOnce;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const s = this.stream as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined;
    this.stream = undefined;
    s?.removeAllListeners();
    s?.on('error', () => {});
    s?.destroy?.();
  }

  /** Waits until all queued per-container processing is done (tests). */
  async idle(): Promise<void> {
    while (true) {
      const pending = [...this.chains.values()];
      if (pending.length === 0) return;
      await Promise.all(pending);
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.opts.docker.getEvents({ filters: { type: ['container'], label: this.labelFilters() } });
    } catch (err) {
      this.scheduleReconnect(err as Error);
      return;
    }
    if (this.stopped) {
      (stream as unknown as { destroy?: () => void }).destroy?.();
      return;
    }
    this.stream = stream;
    let buf = '';
    let ended = false;
    const onEnd = (err?: Error) => {
      if (ended) return;
      ended = true;
      if (this.stream === stream) this.stream = undefined;
      if (!this.stopped) this.scheduleReconnect(err ?? new Error('docker event stream ended'));
    };
    stream.on('data', (chunk: Buffer | string) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        try {
          this.onEvent(JSON.parse(line) as DockerEvent);
        } catch (e) {
          this.log?.warn('unparseable docker event', { line: line.slice(0, 200), err: e });
        }
      }
    });
    stream.on('end', () => onEnd());
    stream.on('close', () => onEnd());
    stream.on('error', (e: Error) => onEnd(e));
    // Subscribed first, listed second: nothing that happens in between is missed.
    try {
      await this.resync();
      this.attempt = 0;
      this.emit('connected');
      this.resolveConnected?.();
    } catch (err) {
      this.log?.warn('listing containers after connecting to docker failed', { err });
      (stream as unknown as { destroy?: () => void }).destroy?.();
      onEnd(err as Error);
    }
  }

  private scheduleReconnect(err: Error): void {
    if (this.stopped || this.timer) return;
    const initial = this.opts.backoff?.initialMs ?? 500;
    const max = this.opts.backoff?.maxMs ?? 30_000;
    const base = Math.min(max, initial * 2 ** this.attempt);
    const delay = Math.round(base / 2 + (this.opts.random ?? Math.random)() * (base / 2));
    this.attempt++;
    this.log?.warn('docker event stream lost; reconnecting', { err, attempt: this.attempt, delayMs: delay });
    this.emit('disconnected', err);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect();
    }, delay);
    this.timer.unref?.();
  }

  /** Re-lists the labelled containers and reports each (and `removed` for vanished ones). */
  async resync(): Promise<ObservedContainer[]> {
    const list = await this.opts.docker.listContainers({ all: true, filters: { label: this.labelFilters() } });
    const seen = new Set<string>();
    const results: ObservedContainer[] = [];
    await Promise.all(
      list.map(async (c) => {
        const uid = c.Labels?.[LABEL_UID];
        if (!uid || !this.owns(c.Labels)) return;
        seen.add(uid);
        this.byId.set(c.Id, uid);
        await this.enqueue(uid, () => this.refresh(uid, c.Id, undefined));
      }),
    );
    for (const [uid, st] of [...this.states]) {
      if (!seen.has(uid) && st.state !== 'removed') {
        await this.enqueue(uid, async () => {
          this.report({ ...st, state: 'removed', ports: [] });
        });
      }
    }
    for (const uid of seen) {
      const st = this.states.get(uid);
      if (st) results.push(st);
    }
    this.emit('snapshot', results);
    return results;
  }

  private onEvent(ev: DockerEvent): void {
    const action = (ev.Action ?? ev.status ?? '').split(':')[0];
    if (!RELEVANT.has(action)) return;
    const id = ev.Actor?.ID ?? ev.id;
    if (ev.Actor?.Attributes && !this.owns(ev.Actor.Attributes)) return;
    const uid = ev.Actor?.Attributes?.[LABEL_UID] ?? (id ? this.byId.get(id) : undefined);
    if (!id || !uid) return;
    this.byId.set(id, uid);
    void this.enqueue(uid, () => this.refresh(uid, id, { ...ev, Action: action }));
  }

  private enqueue(uid: string, job: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(uid) ?? Promise.resolve();
    const next = prev.then(job).catch((err) => this.log?.warn('observing container failed', { uid, err }));
    this.chains.set(uid, next);
    void next.then(() => {
      if (this.chains.get(uid) === next) this.chains.delete(uid);
    });
    return next;
  }

  private async refresh(uid: string, id: string, ev: DockerEvent | undefined): Promise<void> {
    const prev = this.states.get(uid);
    // An event of an older container of the same server (replaced) must not overwrite the new one.
    if (ev && prev && prev.containerId !== id && prev.state !== 'removed' && ev.Action !== 'create') {
      if (ev.Action === 'destroy') this.byId.delete(id);
      return;
    }
    if (ev?.Action === 'destroy') {
      this.byId.delete(id);
      const next = observeFromEvent(ev, prev);
      if (next) this.report(next);
      return;
    }
    try {
      const info = await this.opts.docker.getContainer(id).inspect();
      this.report(observeFromInspect(info));
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code !== 404) throw err;
      this.byId.delete(id);
      const next = ev ? observeFromEvent({ ...ev, Action: 'destroy' }, prev) : prev ? { ...prev, state: 'removed' as const, ports: [] } : undefined;
      if (next) this.report(next);
    }
  }

  private report(st: ObservedContainer): void {
    const prev = this.states.get(st.uid);
    this.states.set(st.uid, st);
    if (prev && sameState(prev, st)) return;
    this.emit('state', st);
  }
}

function sameState(a: ObservedContainer, b: ObservedContainer): boolean {
  return (
    a.containerId === b.containerId &&
    a.state === b.state &&
    a.exitCode === b.exitCode &&
    a.oomKilled === b.oomKilled &&
    a.startedAt === b.startedAt &&
    a.finishedAt === b.finishedAt &&
    a.specHash === b.specHash &&
    JSON.stringify(a.ports) === JSON.stringify(b.ports)
  );
}
