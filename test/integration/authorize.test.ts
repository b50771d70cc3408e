// The one answer every transport asks (api/rbac/authorize.ts), over real accounts in SQLite: is the
// caller still who they were, and what may they do on this server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServices } from '../../api/http/services.ts';
import { authorizeOnServer, refusal, revalidate } from '../../api/rbac/authorize.ts';
import type { Principal } from '../../api/rbac/access.ts';
import type { GameServer } from '../../crds/types.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { apiServicesFor, signIn } from '../helpers/api.ts';

describe('revalidate and authorizeOnServer', () => {
  let env: TestEnv;
  let svc: ApiServices;
  let server: GameServer;
  const principalOf = async (token: string) => svc.auth.fromBearer(token);

  beforeAll(async () => {
    env = await openTestEnv();
    svc = await apiServicesFor(env);
  });
  afterAll(() => env.close());

  it('a principal stays valid while its user, session and key do, with the grants as they are now', async () => {
    const u = await signIn(svc, 'rv-user');
    const p = await principalOf(u.token);
    const ok = revalidate(svc.accounts, p, svc.now());
    expect(ok.ok && ok.principal.grants).toEqual([]);
    await svc.accounts.setUserRoles(u.userId, ['admin']);
    const again = revalidate(svc.accounts, p, svc.now());
    expect(again.ok && again.principal.grants).toEqual(['*']);

    await svc.accounts.revokeSession(p.sessionId!, 'test');
    expect(revalidate(svc.accounts, p, svc.now())).toEqual({ ok: false, code: 'session_revoked' });

    const { key, apiKey } = await svc.accounts.createApiKey(u.userId, { name: 'k', permissions: ['server.read'] });
    const viaKey = await principalOf(key);
    expect(revalidate(svc.accounts, viaKey, svc.now()).ok).toBe(true);
    await svc.accounts.revokeApiKey(u.userId, apiKey.id);
    expect(revalidate(svc.accounts, viaKey, svc.now())).toEqual({ ok: false, code: 'key_revoked' });

    const d = await signIn(svc, 'rv-disabled');
    const dp = await principalOf(d.token);
    await svc.accounts.updateUser(d.userId, { disabled: true });
    expect(revalidate(svc.accounts, dp, svc.now())).toEqual({ ok: false, code: 'user_disabled' });
    const g = await signIn(svc, 'rv-gone');
    const gp = await principalOf(g.token);
    await svc.accounts.deleteUser(g.userId);
    expect(revalidate(svc.accounts, gp, svc.now())).toEqual({ ok: false, code: 'user_gone' });
  });

  it('allowed, not_found (cannot even see it), forbidden (sees it), suspended (only for actions a suspension blocks)', async () => {
    const owner = await principalOf((await signIn(svc, 'az-owner')).token);
    const stranger = await principalOf((await signIn(svc, 'az-stranger')).token);
    const reader: Principal = await principalOf((await signIn(svc, 'az-reader')).token);
    server = await env.store.create<GameServer>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'az', namespace: 'default' }, spec: { templateRef: 'testgame', owner: owner.userId } });
    await svc.accounts.setServerGrant(server, reader.userId, ['server.read']);

    expect(authorizeOnServer(svc.access, owner, server, 'server.start')).toEqual({ outcome: 'allowed' });
    const nf = authorizeOnServer(svc.access, stranger, server, 'server.start');
    expect(nf).toEqual({ outcome: 'not_found', message: 'server "az" not found' });
    const fb = authorizeOnServer(svc.access, reader, server, 'server.start');
    expect(fb).toMatchObject({ outcome: 'forbidden', permission: 'server.start' });
    expect(authorizeOnServer(svc.access, owner, server, 'server.delete')).toMatchObject({ outcome: 'forbidden' }); // not an owner default

    const suspended = await env.store.patch<GameServer>('GameServer', 'default', 'az', { spec: { suspended: true, suspendReason: 'unpaid' } });
    expect(authorizeOnServer(svc.access, owner, suspended, 'server.read')).toEqual({ outcome: 'allowed' });
    const sv = authorizeOnServer(svc.access, owner, suspended, 'server.start', { refuseSuspended: true });
    expect(sv).toMatchObject({ outcome: 'suspended', message: 'Server is suspended (unpaid): actions are blocked until it is unsuspended' });
    // The permission is judged first: a stranger learns nothing about the suspension either.
    expect(authorizeOnServer(svc.access, stranger, suspended, 'server.start', { refuseSuspended: true }).outcome).toBe('not_found');

    expect([nf, fb, sv].map((v) => v.outcome !== 'allowed' && [refusal(v).code, refusal(v).reason])).toEqual([['not_found', 'not_found'], ['forbidden', 'missing_permission'], ['locked', 'server_suspended']]);
  });
});
