// The services every page uses, created once per tab: the session, the REST client, the live socket,
// the resource (YAML) client, and who is signed in.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ApiClient } from './api/http.ts';
import { Session, type LockFn } from './api/session.ts';
import { LiveSocket, type SocketLike } from './api/live.ts';
import { KubeClient } from './api/kube.ts';
import type { Me } from './api/types.ts';

export interface Services {
  session: Session;
  api: ApiClient;
  live: LiveSocket;
  kube: KubeClient;
}

const webLock: LockFn = (name, fn) => (navigator.locks ? (navigator.locks.request(name, fn) as ReturnType<typeof fn>) : fn());

export function createServices(): Services {
  const session = new Session({ storage: window.localStorage, fetch: window.fetch.bind(window), lock: webLock });
  const api = new ApiClient(session, window.fetch.bind(window));
  const live = new LiveSocket({
    url: (token) => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?token=${encodeURIComponent(token)}`,
    token: async () => (await api.data<{ token: string }>('POST', '/api/auth/tokens', { body: { purpose: 'websocket' } })).token,
    connect: (url) => new WebSocket(url) as unknown as SocketLike,
  });
  window.addEventListener('storage', (e) => {
    if (e.key === null || e.key === 'gantry.session') session.reload();
  });
  return { session, api, live, kube: new KubeClient(api) };
}

export interface Toast {
  id: number;
  text: string;
  tone: 'ok' | 'bad';
}

interface AppState extends Services {
  me: Me | undefined;
  reloadMe: () => Promise<void>;
  can: (permission: string) => boolean;
  toast: (text: string, tone?: 'ok' | 'bad') => void;
  toasts: Toast[];
  signOut: () => Promise<void>;
}

const Ctx = createContext<AppState | undefined>(undefined);

export function useApp(): AppState {
  const v = useContext(Ctx);
  if (!v) throw new Error('useApp outside AppProvider');
  return v;
}

/** Grants with wildcards, as the API matches them (api/rbac/permissions.ts). */
export function holds(perms: readonly string[] | undefined, permission: string): boolean {
  return !!perms?.some((g) => g === '*' || g === permission || (g.endsWith('.*') && permission.startsWith(g.slice(0, -1))));
}

export function AppProvider({ services, children }: { services: Services; children: ReactNode }) {
  const [me, setMe] = useState<Me>();
  const [toasts, setToasts] = useState<Toast[]>([]);
  const [signedIn, setSignedIn] = useState(!!services.session.current);

  const reloadMe = useCallback(async () => {
    if (!services.session.current) return setMe(undefined);
    try {
      setMe(await services.api.get<Me>('/api/auth/me'));
    } catch {
      // A failed `me` with a live session is shown by the pages' own errors; signed out is handled below.
    }
  }, [services]);

  useEffect(() => {
    const off = services.session.onChange((s) => setSignedIn(!!s));
    return () => {
      off();
    };
  }, [services]);

  useEffect(() => {
    if (signedIn) {
      void reloadMe();
      services.live.start();
    } else {
      setMe(undefined);
      services.live.stop();
    }
  }, [signedIn, services, reloadMe]);

  // Refresh the access token shortly before it expires, so an idle page is still signed in later.
  useEffect(() => {
    if (!signedIn) return;
    let timer: ReturnType<typeof setTimeout>;
    const plan = () => {
      const due = services.session.refreshDueIn();
      if (due === undefined) return;
      timer = setTimeout(async () => {
        const cur = services.session.current;
        if (cur) await services.session.refresh(cur.token).catch(() => undefined);
        plan();
      }, Math.min(due, 2 ** 31 - 1));
    };
    plan();
    const off = services.session.onChange(() => {
      clearTimeout(timer);
      plan();
    });
    return () => {
      clearTimeout(timer);
      off();
    };
  }, [signedIn, services]);

  const toast = useCallback((text: string, tone: 'ok' | 'bad' = 'ok') => {
    const id = Date.now() + Math.random();
    setToasts((l) => [...l.slice(-3), { id, text, tone }]);
    setTimeout(() => setToasts((l) => l.filter((x) => x.id !== id)), tone === 'bad' ? 8000 : 4000);
  }, []);

  const signOut = useCallback(async () => {
    try {
      await services.api.call('POST', '/api/auth/logout');
    } catch {
      // Already ended on the server: forgetting it here is all that is left to do.
    }
    services.session.set(undefined);
  }, [services]);

  const value = useMemo<AppState>(
    () => ({ ...services, me, reloadMe, can: (p) => holds(me?.permissions, p), toast, toasts, signOut }),
    [services, me, reloadMe, toast, toasts, signOut],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}
