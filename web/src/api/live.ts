// The live socket (`/ws`, Catalyst's client protocol; api/ws/client-hub.ts on the server): one
// connection per tab shared by every page. Pages subscribe to servers with the events they want;
// the socket keeps the union per server, re-subscribes after a reconnect (with backoff and a fresh
// short-lived websocket token each time) and hands messages to the listeners of their server.
export type LiveEvent = 'server_log' | 'server_state_update' | 'resource_stats';

export interface LiveMessage {
  type: string;
  serverId?: string;
  [k: string]: unknown;
}

/** The part of the browser's WebSocket this uses (the `ws` package's fits too, for tests). */
export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface LiveOptions {
  /** The ws:// URL for a token (the page's origin + /ws?token=…). */
  url: (token: string) => string;
  /** A websocket-purpose token (POST /api/auth/tokens). */
  token: () => Promise<string>;
  connect: (url: string) => SocketLike;
  /** Reconnect delays: min, max (ms); doubled per failure with jitter. */
  backoffMs?: [number, number];
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

export type LiveStatus = 'connecting' | 'open' | 'closed';

interface Subscription {
  events: Set<LiveEvent>;
  /** Console lines to replay on the first subscribe (the largest asked for). */
  history: number;
  listeners: Set<(m: LiveMessage) => void>;
  /** Subscribes sent and not answered yet, oldest first: did each ask for a history replay? */
  awaiting: boolean[];
}

const OPEN = 1;

export class LiveSocket {
  private socket: SocketLike | undefined;
  private readonly subs = new Map<string, Subscription>();
  private readonly statusListeners = new Set<(s: LiveStatus, detail?: string) => void>();
  private readonly globalListeners = new Set<(m: LiveMessage) => void>();
  private failures = 0;
  private timer: unknown;
  private stopped = true;
  status: LiveStatus = 'closed';
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (t: unknown) => void;

  constructor(private readonly opts: LiveOptions) {
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimer ?? ((t) => clearTimeout(t as ReturnType<typeof setTimeout>));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.open();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer(this.timer);
    const s = this.socket;
    this.socket = undefined;
    s?.close(1000, 'signed out');
    this.setStatus('closed');
  }

  onStatus(fn: (s: LiveStatus, detail?: string) => void): () => void {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  }

  /** Every message (errors without a server, for instance). */
  onMessage(fn: (m: LiveMessage) => void): () => void {
    this.globalListeners.add(fn);
    return () => this.globalListeners.delete(fn);
  }

  /**
   * Listens to a server's events; returns the unsubscribe. `history` console lines are replayed when
   * this subscription adds server_log (they arrive before live lines, with no gap).
   */
  subscribe(serverId: string, events: LiveEvent[], listener: (m: LiveMessage) => void, history = 0): () => void {
    let sub = this.subs.get(serverId);
    const before = sub ? [...sub.events].sort().join() : '';
    if (!sub) this.subs.set(serverId, (sub = { events: new Set(), history: 0, listeners: new Set(), awaiting: [] }));
    for (const e of events) sub.events.add(e);
    sub.listeners.add(listener);
    if (events.includes('server_log')) sub.history = Math.max(sub.history, history);
    // A console that (re)opens asks for history: subscribe again with it, even when the events are
    // unchanged, so it gets the replay (marked `replay`) instead of joining the live stream mid-way.
    const wantsReplay = events.includes('server_log') && history > 0;
    if ([...sub.events].sort().join() !== before || wantsReplay) this.sendSubscribe(serverId, sub, wantsReplay ? history : 0);
    return () => {
      const s = this.subs.get(serverId);
      if (!s) return;
      s.listeners.delete(listener);
      if (s.listeners.size === 0) {
        this.subs.delete(serverId);
        this.send({ type: 'unsubscribe', serverId });
      }
    };
  }

  /** Console input; false when the socket is not open (the caller says so). */
  sendInput(serverId: string, data: string): boolean {
    return this.send({ type: 'console_input', serverId, data });
  }

  private send(msg: Record<string, unknown>): boolean {
    if (!this.socket || this.socket.readyState !== OPEN) return false;
    this.socket.send(JSON.stringify(msg));
    return true;
  }

  private sendSubscribe(serverId: string, sub: Subscription, history: number): void {
    if (this.send({ type: 'subscribe', serverId, events: [...sub.events], ...(history > 0 ? { history } : {}) })) sub.awaiting.push(history > 0);
  }

  private setStatus(s: LiveStatus, detail?: string): void {
    this.status = s;
    for (const fn of this.statusListeners) fn(s, detail);
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    this.setStatus('connecting');
    let token: string;
    try {
      token = await this.opts.token();
    } catch (err) {
      return this.retry((err as Error).message);
    }
    if (this.stopped) return;
    const socket = this.opts.connect(this.opts.url(token));
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.failures = 0;
      this.setStatus('open');
      for (const sub of this.subs.values()) sub.awaiting = [];
      // After a reconnect the console replays what the hub still holds: the page clears and redraws.
      for (const [id, sub] of this.subs) this.sendSubscribe(id, sub, sub.events.has('server_log') ? Math.max(sub.history, 0) : 0);
    };
    socket.onmessage = (ev) => {
      if (this.socket !== socket) return;
      let msg: LiveMessage;
      try {
        msg = JSON.parse(String(ev.data)) as LiveMessage;
      } catch {
        return;
      }
      for (const fn of this.globalListeners) fn(msg);
      const sub = msg.serverId ? this.subs.get(msg.serverId) : undefined;
      if (!sub) return;
      // Each subscribe is answered in order (`subscribed`, or an error saying "subscribe: …"). The one
      // that asked for history is marked `replay`: what follows it is the history, then live lines, so a
      // console clears there and shows every line exactly once.
      if (msg.type === 'subscribed' || (msg.type === 'error' && String(msg.message ?? '').startsWith('subscribe:'))) {
        const replay = sub.awaiting.shift() ?? false;
        if (msg.type === 'subscribed') msg = { ...msg, replay };
      }
      for (const fn of sub.listeners) fn(msg);
    };
    socket.onerror = () => undefined;
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      // 4401: the session ended; the app signs out (no point reconnecting with it).
      if (ev.code === 4401) {
        this.setStatus('closed', ev.reason || 'session ended');
        this.stopped = true;
        return;
      }
      this.retry(ev.reason || `closed (${ev.code})`);
    };
  }

  private retry(detail: string): void {
    if (this.stopped) return;
    this.setStatus('closed', detail);
    const [min, max] = this.opts.backoffMs ?? [500, 15_000];
    const base = Math.min(max, min * 2 ** this.failures++);
    this.timer = this.setTimer(() => void this.open(), base / 2 + Math.random() * (base / 2));
  }
}
