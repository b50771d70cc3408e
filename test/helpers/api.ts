// API services over a test env, and signed-in users for requests.
import { randomBytes } from 'node:crypto';
import { openApiServices, type OpenApiOptions } from '../../api/open.ts';
import type { ApiServices } from '../../api/http/services.ts';
import { ADMIN_ROLE, USER_ROLE } from '../../api/auth/accounts.ts';
import type { TestEnv } from './env.ts';

export async function apiServicesFor(env: TestEnv, extra: Partial<OpenApiOptions> = {}): Promise<ApiServices> {
  return openApiServices({ db: env.db, secret: randomBytes(32), store: env.store, registry: env.registry, events: env.events, log: env.log, ...extra });
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
