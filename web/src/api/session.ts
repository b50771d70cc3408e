// The signed-in session: access token (short-lived), refresh token (rotating), who the user is.
// Kept in localStorage so a reload or a second tab stays signed in. Refresh tokens rotate and a spent
// one revokes the whole session, so two tabs must never refresh with the same token: refreshing takes
// a cross-tab lock (Web Locks) and re-reads the stored session inside it — if another tab already
// rotated, its tokens are used instead of refreshing again.
import { ApiError, errorFromResponse } from './errors.ts';

export interface SessionData {
  userId: string;
  email: string;
  username: string;
  token: string;
  expiresAt: string;
  refreshToken: string;
  refreshExpiresAt: string;
}

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Runs fn while holding a named lock shared by every tab (navigator.locks), or just runs it. */
export type LockFn = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

export interface SessionOptions {
  storage: KeyValueStore;
  fetch: typeof fetch;
  lock?: LockFn;
  now?: () => number;
  base?: string;
}

export const SESSION_KEY = 'gantry.session';
/** Refresh this long before the access token expires. */
export const REFRESH_MARGIN_MS = 60_000;

type Listener = (s: SessionData | undefined) => void;

function parse(raw: string | null): SessionData | undefined {
  if (!raw) return undefined;
  try {
    const s = JSON.parse(raw) as SessionData;
    return typeof s.token === 'string' && typeof s.refreshToken === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

export class Session {
  private data: SessionData | undefined;
  private inflight: Promise<SessionData> | undefined;
  private readonly listeners = new Set<Listener>();
  private readonly now: () => number;
  private readonly lock: LockFn;

  constructor(private readonly opts: SessionOptions) {
    this.now = opts.now ?? Date.now;
    this.lock = opts.lock ?? ((_n, fn) => fn());
    this.data = parse(opts.storage.getItem(SESSION_KEY));
  }

  get current(): SessionData | undefined {
    return this.data;
  }

  onChange(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Another tab wrote the session (the `storage` event): adopt it. */
  reload(): void {
    const next = parse(this.opts.storage.getItem(SESSION_KEY));
    if (next?.token === this.data?.token) return;
    this.data = next;
    this.emit();
  }

  set(data: SessionData | undefined): void {
    this.data = data;
    if (data) this.opts.storage.setItem(SESSION_KEY, JSON.stringify(data));
    else this.opts.storage.removeItem(SESSION_KEY);
    this.emit();
  }

  /** Milliseconds until the access token should be refreshed (0 = now); undefined when signed out. */
  refreshDueIn(): number | undefined {
    if (!this.data) return undefined;
    return Math.max(0, Date.parse(this.data.expiresAt) - REFRESH_MARGIN_MS - this.now());
  }

  /** An access token good for at least the margin, refreshing first when needed. */
  async accessToken(): Promise<string | undefined> {
    if (!this.data) return undefined;
    if (this.refreshDueIn() === 0) return (await this.refresh(this.data.token)).token;
    return this.data.token;
  }

  /**
   * New tokens for the session whose access token is `stale` (the one a refused call used). One
   * refresh at a time in this tab, and across tabs under the lock; a tab that finds the stored
   * session already moved on takes it without spending the refresh token again.
   */
  refresh(stale: string): Promise<SessionData> {
    this.inflight ??= this.lock('gantry-session-refresh', async () => {
      const stored = parse(this.opts.storage.getItem(SESSION_KEY));
      if (!stored) throw new ApiError(401, 'Signed out (in another tab?): sign in again', 'signed_out');
      if (stored.token !== stale && Date.parse(stored.expiresAt) - REFRESH_MARGIN_MS > this.now()) {
        this.data = stored;
        this.emit();
        return stored;
      }
      const res = await this.opts.fetch(`${this.opts.base ?? ''}/api/auth/refresh`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refreshToken: stored.refreshToken }),
      });
      if (!res.ok) {
        const err = await errorFromResponse(res);
        // The session is over (expired, revoked, reused): forget it so the app shows the login.
        if (res.status === 401) this.set(undefined);
        throw err;
      }
      const body = (await res.json()) as { data: SessionData };
      this.set({ ...stored, ...body.data });
      return this.data!;
    }).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private emit(): void {
    for (const fn of this.listeners) fn(this.data);
  }
}
