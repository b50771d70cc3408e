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
