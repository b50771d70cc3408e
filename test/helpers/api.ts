// API services over a test env, and signed-in users for requests.
import { randomBytes } from 'node:crypto';
import { openApiServices, type OpenApiOptions } from '../../api/open.ts';
import type { ApiServices } from '../../api/http/services.ts';
import { ADMIN_ROLE, USER_ROLE } from '../../api/auth/accounts.ts';
import { createApp, type AppDeps } from '../../api/app.ts';
import { openTestEnv, type TestEnv } from './env.ts';

export async function apiServicesFor(env: TestEnv, extra: Partial<OpenApiOptions> = {}): Promise<ApiServices> {
  const svc = await openApiServices({ db: env.db, secret: randomBytes(32), store: env.store, registry: env.registry, events: env.events, log: env.log, ...extra });
  // The services' own informers watch the store: stopped before the env closes it.
  const close = env.close.bind(env);
  env.close = async () => {
    await svc.close();
    await close();
  };
  return svc;
}

export interface SignedIn {
  userId: string;
  username: string;
  token: string;
  headers: Record<string, string>;
}

/** Creates (or reuses) a user with the given roles and returns an access token of a fresh session. */
export async function signIn(svc: ApiServices, username: string, roles: string[] = [USER_ROLE], password = 'correct horse battery'): Promise<SignedIn> {
  const user = svc.accounts.findUser(username) ?? (await svc.accounts.createUser({ email: `${username}@example.test`, username, password, roleIds: roles }));
  const { session } = await svc.accounts.createSession(user.id);
  const { token } = await svc.auth.issueAccessToken(user.id, session.id);
  return { userId: user.id, username, token, headers: { authorization: `Bearer ${token}` } };
}

/** Who a request is from: an access token, a signed-in user, or headers as they are. */
export type ApiAuth = string | SignedIn | Record<string, string> | undefined;

export interface ApiReply {
  status: number;
  /** The parsed JSON body (undefined when empty). */
  body: any;
  headers: Headers;
}

export interface ApiApp {
  env: TestEnv;
  svc: ApiServices;
  app: ReturnType<typeof createApp>;
  /** An in-process request; a body is sent as JSON (a string as it is). */
  call(method: string, path: string, body?: unknown, auth?: ApiAuth): Promise<ApiReply>;
  /** `call` with the caller first, as the route tests read. */
  as(who: ApiAuth, method: string, path: string, body?: unknown): Promise<ApiReply>;
}

/**
 * The real app over API services of a test env (opened here unless given): `api` goes to
 * apiServicesFor, `app` to createApp; `base` prefixes request paths (e.g. a host for absolute URLs).
 */
export async function openApiApp(opts: { env?: TestEnv; api?: Partial<OpenApiOptions>; app?: Partial<AppDeps>; base?: string } = {}): Promise<ApiApp> {
  const env = opts.env ?? (await openTestEnv());
  const svc = await apiServicesFor(env, opts.api);
  const app = createApp({ store: env.store, registry: env.registry, events: env.events, log: env.log, ...opts.app, api: svc });
  const call = async (method: string, path: string, body?: unknown, auth?: ApiAuth): Promise<ApiReply> => {
    const authHeaders: Record<string, string> =
      typeof auth === 'string' ? (auth ? { authorization: `Bearer ${auth}` } : {}) : auth && typeof auth.headers === 'object' ? (auth as SignedIn).headers : ((auth as Record<string, string> | undefined) ?? {});
    const res = await app.request((opts.base ?? '') + path, {
      method,
      headers: { 'content-type': 'application/json', ...authHeaders },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  };
  return { env, svc, app, call, as: (who, method, path, body) => call(method, path, body, who) };
}

export const signInAdmin = (svc: ApiServices, username = 'admin') => signIn(svc, username, [ADMIN_ROLE]);

/** The administrator a spawned `gantry up` creates when started with adminEnv(). */
export const TEST_ADMIN = { email: 'admin@gantry.local', username: 'admin', password: 'test-admin-password' };
export const adminEnv = (): Record<string, string> => ({ GANTRY_ADMIN_PASSWORD: TEST_ADMIN.password });

/** Logs in over HTTP and returns the Authorization header. */
export async function loginHttp(url: string, creds: { email: string; password: string } = TEST_ADMIN): Promise<Record<string, string>> {
  const res = await fetch(`${url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(creds) });
  const body = (await res.json()) as { data?: { token?: string }; message?: string };
  if (res.status !== 200 || !body.data?.token) throw new Error(`login as ${creds.email} failed: HTTP ${res.status} ${body.message ?? ''}`);
  return { authorization: `Bearer ${body.data.token}` };
}
