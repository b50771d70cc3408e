// Node enrolment over real HTTP and SQLite: deployment tokens, credentials, rotation and deletion
// lock-out, with a real `ws` client as the agent.
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_REVOKED } from '../../controller/hub/close-codes.ts';
import { EnrollmentError, NodeEnrollment } from '../../controller/nodes/enrollment.ts';
import { isStoreError } from '../../controller/store/errors.ts';
import { eventually, startHarness, type Harness } from './hub-harness.ts';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const HOUR = 3_600_000;

describe('node enrolment', () => {
  let h: Harness;
  let clock = T0;
  const now = () => clock;
  afterEach(async () => {
    await h.close();
    clock = T0;
  });

  it('issues a one-time token (Catalyst shape + expiry + command), exchanges it for a credential that connects', async () => {
    h = await startHarness({ now });
    const node = await h.createNode('alpha');

    const issued = await h.issueToken('alpha');
    expect(issued.status).toBe(200);
    const data = issued.body.data;
    expect(issued.body.success).toBe(true);
    expect(data.deploymentToken).toMatch(/^gdt_[A-Za-z0-9_-]{43}$/);
    expect(data).toMatchObject({
      expiresAt: new Date(T0 + HOUR).toISOString(),
      nodeName: 'alpha',
      nodeUid: node.metadata.uid,
      panelUrl: h.url,
      enrollUrl: `${h.url}/api/agent/enroll`,
      command: `gantry agent --panel ${h.url} --token ${data.deploymentToken}`,
    });

    const res = await fetch(`${h.url}/api/agent/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: data.deploymentToken, agentVersion: '0.1.0-test', hostname: 'node-host' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const enrolled = (await res.json()) as { nodeName: string; nodeUid: string; credential: string };
    expect(enrolled).toEqual({ nodeName: 'alpha', nodeUid: node.metadata.uid, credential: expect.stringMatching(/^gnc_[A-Za-z0-9_-]{43}$/) });

    // Only hashes are stored.
    const rows = [
      ...(await h.env.db.all('SELECT * FROM node_deployment_tokens')),
      ...(await h.env.db.all('SELECT * FROM node_credentials')),
    ];
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(data.deploymentToken);
    expect(dump).not.toContain(enrolled.credential);
    expect(dump).not.toContain(data.deploymentToken.slice(4));

    const agent = await h.agent(enrolled.credential);
    expect((await agent.handshake()).nodeName).toBe('alpha');
  });

  it('refuses wrong, reused, expired and revoked tokens, each with its own message', async () => {
    h = await startHarness({ now });
    await h.createNode('alpha');
    const first = (await h.issueToken('alpha')).body.data.deploymentToken as string;

    const wrong = await h.enrollHttp({ token: 'gdt_' + 'A'.repeat(43), agentVersion: '1' });
    expect(wrong).toEqual({ status: 401, body: { error: 'Unauthorized', statusCode: 401, message: 'unknown deployment token', reason: 'unknown_token' } });
    const garbage = await h.enrollHttp({ token: 'hello', agentVersion: '1' });
    expect(garbage.body.message).toBe('unknown deployment token');

    // Rotation revokes the unused older token.
    clock += 60_000;
    const second = (await h.issueToken('alpha', '2h')).body;
    expect(second.data.expiresAt).toBe(new Date(clock + 2 * HOUR).toISOString());
    const revoked = await h.enrollHttp({ token: first, agentVersion: '1' });
    expect(revoked.status).toBe(401);
    expect(revoked.body.reason).toBe('token_revoked');
    expect(revoked.body.message).toBe(`deployment token was revoked at ${new Date(clock).toISOString()} (a new deployment token was issued at ${new Date(clock).toISOString()})`);

    const ok = await h.enrollHttp({ token: second.data.deploymentToken, agentVersion: '1' });
    expect(ok.status).toBe(200);
    const usedAt = new Date(clock).toISOString();
    clock += 5_000;
    const reused = await h.enrollHttp({ token: second.data.deploymentToken, agentVersion: '1' });
    expect(reused).toMatchObject({ status: 401, body: { statusCode: 401, reason: 'token_used', message: `deployment token already used at ${usedAt}` } });

    const third = (await h.issueToken('alpha', '30m')).body.data;
    clock += 31 * 60_000;
    const expired = await h.enrollHttp({ token: third.deploymentToken, agentVersion: '1' });
    expect(expired).toMatchObject({ status: 401, body: { reason: 'token_expired', message: `deployment token expired at ${third.expiresAt}` } });
  });

  it('answers malformed requests with 400 and an unknown node with 404, in Catalyst\'s error shape', async () => {
    h = await startHarness({ now });
    for (const body of ['{"token": ', '[1]', { agentVersion: '1' }, { token: 'gdt_x' }, { token: 'gdt_x', agentVersion: '1', hostname: 7 }]) {
      const r = await h.enrollHttp(body);
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ error: 'Bad Request', statusCode: 400 });
    }
    const ghost = await h.issueToken('ghost');
    expect(ghost).toEqual({ status: 404, body: { error: 'Not Found', statusCode: 404, message: 'GameNode "ghost" not found', reason: 'NotFound' } });

    await h.createNode('alpha');
    for (const ttl of ['forever', '1s', '400d']) {
      const r = await h.issueToken('alpha', ttl);
      expect(r.status).toBe(400);
      expect(r.body.statusCode).toBe(400);
    }
    const q = await fetch(`${h.url}/api/nodes/alpha/deployment-token?ttl=10m`, { method: 'POST', headers: h.admin.headers });
    expect(((await q.json()) as { data: { expiresAt: string } }).data.expiresAt).toBe(new Date(T0 + 10 * 60_000).toISOString());
  });

  it('refuses a token whose node was deleted (410), also when a node of that name was created again', async () => {
    h = await startHarness({ now });
    await h.createNode('alpha');
    const token = (await h.issueToken('alpha')).body.data.deploymentToken;
    await h.env.store.delete('GameNode', undefined, 'alpha');
    const gone = await h.enrollHttp({ token, agentVersion: '1' });
    expect(gone).toEqual({ status: 410, body: { error: 'Gone', statusCode: 410, message: 'node "alpha" no longer exists', reason: 'node_gone' } });

    await h.createNode('alpha');
    const replaced = await h.enrollHttp({ token, agentVersion: '1' });
    expect(replaced.status).toBe(410);
    expect(replaced.body.message).toMatch(/^node "alpha" no longer exists \(a node of that name was created since/);
  });

  it('rotation (a new token) revokes the credential and disconnects the running agent', async () => {
    h = await startHarness();
    const { credential } = await h.enrolledNode('alpha');
    const agent = await h.agent(credential);
    await agent.handshake();
    const pending = h.hub.call('alpha', 'start', { uid: 'u1' }).catch((e: unknown) => e);
    await agent.next('request');

    const next = (await h.issueToken('alpha')).body.data.deploymentToken;
    const closed = await agent.closed;
    expect(closed.code).toBe(CLOSE_REVOKED);
    expect(closed.reason).toMatch(/^credential revoked: a new deployment token was issued/);
    expect(await pending).toMatchObject({ code: 'disconnected' });

    const again = await h.connect({ authorization: `Bearer ${credential}` });
    expect(again).toMatchObject({ ok: false, status: 401 });
    expect(!again.ok && again.body).toMatch(/^node credential was revoked at .* \(a new deployment token was issued at .*\)\n$/);

    const fresh = await h.enrollHttp({ token: next, agentVersion: '1' });
    const agent2 = await h.agent(fresh.body.credential);
    expect((await agent2.handshake()).nodeName).toBe('alpha');
  });

  it('deleting the GameNode revokes its credential and disconnects its agent', async () => {
    h = await startHarness();
    const { credential } = await h.enrolledNode('alpha');
    const agent = await h.agent(credential);
    await agent.handshake();
    await eventually(() => h.hub.node('alpha')?.connected, 'connected');

    await h.env.store.delete('GameNode', undefined, 'alpha');
    const closed = await agent.closed;
    expect(closed).toEqual({ code: CLOSE_REVOKED, reason: 'node "alpha" was deleted' });
    expect(h.hub.node('alpha')).toBeUndefined();

    const again = await h.connect({ authorization: `Bearer ${credential}` });
    expect(again).toMatchObject({ ok: false, status: 401 });
    expect(!again.ok && again.body).toMatch(/node credential was revoked at .* \(node was deleted\)/);

    // A new node of the same name does not bring the old credential back.
    await h.createNode('alpha');
    expect(await h.nodes.authenticate(credential)).toMatchObject({ ok: false, code: 'credential_revoked' });
  });

  it('a deletion missed while not watching is caught by authenticate and by the sweep at start', async () => {
    h = await startHarness();
    const a = await h.enrolledNode('alpha');
    const b = await h.enrolledNode('beta');
    h.nodes.stop(); // no watch: deletions go unseen
    await h.env.store.delete('GameNode', undefined, 'alpha');
    await h.createNode('alpha');
    await h.env.store.delete('GameNode', undefined, 'beta');

    expect(await h.nodes.authenticate(a.credential)).toEqual({
      ok: false,
      code: 'node_replaced',
      reason: 'node "alpha" was deleted and created again; enrol it with a new deployment token',
    });
    expect(await h.nodes.authenticate(a.credential)).toMatchObject({ ok: false, code: 'credential_revoked' });

    const other = await NodeEnrollment.open({ db: h.env.db, store: h.env.store, log: h.env.log });
    await other.start();
    other.stop();
    expect(await h.nodes.authenticate(b.credential)).toMatchObject({ ok: false, code: 'credential_revoked', reason: expect.stringMatching(/node was deleted/) });
  });

  it('a token can be used once even when enrolments race', async () => {
    h = await startHarness();
    await h.createNode('alpha');
    const issued = await h.nodes.issueDeploymentToken('alpha');
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => h.nodes.enroll(issued.token, { agentVersion: '1' })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected')) {
      const err = (r as PromiseRejectedResult).reason as EnrollmentError;
      expect(err).toBeInstanceOf(EnrollmentError);
      expect(err.code).toBe('token_used');
    }
  });

  it('issueDeploymentToken refuses an unknown node and a bad ttl', async () => {
    h = await startHarness();
    const err = await h.nodes.issueDeploymentToken('ghost').catch((e: unknown) => e);
    expect(isStoreError(err, 'NotFound')).toBe(true);
    await h.createNode('alpha');
    await expect(h.nodes.issueDeploymentToken('alpha', 0)).rejects.toThrow(/ttl/);
    await expect(h.nodes.issueDeploymentToken('alpha', Number.NaN)).rejects.toThrow(/ttl/);
  });
});
