// Every route of the primary API (CATALYST_ROUTES) over HTTP against a running Gantry (embedded:
// controller, API, a local agent child process, real Docker, the test image gantry-test/gameserver:1),
// in the order of an operator's session as the Catalyst API document describes it: first-run setup,
// accounts (sessions, API keys, 2FA, purpose tokens, password), users and roles, nodes, templates, a
// server's whole life (power, suspension, allocations, subusers, console, metrics), files, backups,
// scheduled tasks, alert rules and alerts (a real crash), the admin views, logout, deletion.
// Each answer is checked for its status code and the {success, data} shape the document shows.
// The fetch helper records which declared route each request matched; the last step asserts that
// every route in CATALYST_ROUTES was called, so a route added without being exercised fails here.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as OTPAuth from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import { CATALYST_ROUTES } from '../../api/routes/catalyst.ts';
import type { RouteSpec } from '../../api/http/route.ts';
import type { GameNode } from '../../crds/types.ts';
import { until } from '../helpers/wait.ts';
import { freePort, startMariaDb, type TestMariaDb } from '../helpers/mariadb.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const NODE = 'e2e-api-doc';
const SERVER_NAME = 'Doc Lobby';
const SERVER = 'doc-lobby';
const ADMIN = { email: 'operator@example.com', username: 'operator', password: 'Operator-Password-1!' };
const USER = { email: 'player@example.com', username: 'player', password: 'SecurePassword123!' };
const NEW_PASSWORD = 'EvenMoreSecure456!';
const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

// ---- route coverage ------------------------------------------------------------------------------

interface Matcher {
  spec: RouteSpec;
  re: RegExp;
  params: number;
}
const matchers: Matcher[] = CATALYST_ROUTES.map((spec) => ({
  spec,
  re: new RegExp(`^${spec.path.split('/').map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/')}$`),
  params: spec.path.split('/').filter((s) => s.startsWith(':')).length,
}));
const key = (s: RouteSpec) => `${s.method} ${s.path}`;
const called = new Map<string, number>();
/** Requests that matched no declared route (a typo in this file would otherwise go unnoticed). */
const unmatched: string[] = [];

/** The declared route a request lands on: of those matching, the most literal one (/alerts/stats before /alerts/:id). */
function routeOf(method: string, url: string): RouteSpec | undefined {
  const p = new URL(url, 'http://x').pathname;
  const hits = matchers.filter((m) => m.spec.method === method && m.re.test(p)).sort((a, b) => a.params - b.params);
  return hits[0]?.spec;
}

interface Answer {
  status: number;
  body: any;
  headers: Headers;
  raw?: Buffer;
}

describe('the Catalyst API document, route by route (real agent, real Docker)', () => {
  let gantry: Embedded;
  let dataDir: string;
  let admin: string; // the operator's access token
  let user: string; // the registered player's access token
  let userId: string;
  let userRefresh: string;
  let firstSessionId: string;
  let recoveryCodes: string[];
  let tempUserId: string;
  let roleId: string;
  let backupId: string;
  let taskId: string;
  let maria: TestMariaDb;
  const ruleIds: string[] = [];
  const alertIds: string[] = [];

  /** fetch, recording the declared route; JSON in and out unless `raw` or a FormData body. */
  async function api(method: string, p: string, opts: { token?: string | null; body?: unknown; form?: FormData; raw?: boolean } = {}): Promise<Answer> {
    const spec = routeOf(method, p);
    if (spec) called.set(key(spec), (called.get(key(spec)) ?? 0) + 1);
    else unmatched.push(`${method} ${p}`);
    const token = opts.token === undefined ? admin : opts.token;
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    let body: BodyInit | undefined;
    if (opts.form) body = opts.form;
    else if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const res = await fetch(gantry.url + p, { method, headers, body });
    if (opts.raw) return { status: res.status, body: undefined, headers: res.headers, raw: Buffer.from(await res.arrayBuffer()) };
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: kept as text for the failure message */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }
  /** The answer's status, with the body in the failure message. */
  const expectStatus = (r: Answer, status: number) => expect(r.status, `HTTP ${r.status}: ${JSON.stringify(r.body)}`).toBe(status);
  const s = (p = '') => `/api/servers/${SERVER}${p}`;
  const server = async () => (await api('GET', s())).body.data;
  const logText = async () => ((await api('GET', s('/logs?limit=1000'))).body.data as { data: string }[]).map((l) => l.data).join('');

  beforeAll(async () => {
    delete process.env.GANTRY_ADMIN_PASSWORD; // first-run setup is part of the session
    await run('bash', [path.join(ROOT, 'scripts/docker-engine.sh'), 'ensure']);
    await run('bash', [path.join(ROOT, 'test/images/build.sh')]);
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-e2e-api-doc-'));
    gantry = await startEmbedded({
      dataDir,
      port: 0,
      host: '127.0.0.1',
      seedDir: path.join(ROOT, 'manifests/examples'),
      localAgent: { nodeName: NODE },
      sftpPort: -1,
      // One operator makes every call of the session from one IP in a few minutes.
      apiLimits: { authPerMinute: 1000, userPerMinute: 100_000 },
    });
    await until('the local node Online', async () => {
      const n = (await gantry.store.get('GameNode', undefined, NODE)) as unknown as GameNode;
      return n.status?.phase === 'Online' && n.status.allocatable?.memoryMb;
    });
  }, 300_000);

  afterAll(async () => {
    await gantry?.stop();
    await maria?.stop();
    const ps = await run('docker', ['ps', '-aq', '--filter', `label=gantry.dev/server-name=${SERVER}`]).catch(() => ({ stdout: '' }));
    for (const id of ps.stdout.split('\n').filter(Boolean)) await run('docker', ['rm', '-f', id]).catch(() => undefined);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('first run: setup status, setup (the operator), login, the OpenAPI document', async () => {
    expect(await api('GET', '/api/setup/status', { token: null })).toMatchObject({ status: 200, body: { success: true, data: { needsSetup: true } } });
    const setup = await api('POST', '/api/auth/setup', { token: null, body: ADMIN });
    expectStatus(setup, 201);
    expect(setup.body).toMatchObject({ success: true, data: { userId: expect.any(String), email: ADMIN.email, username: ADMIN.username, token: expect.any(String) } });
    expect(setup.body.data.permissions).toEqual(expect.arrayContaining(['server.create', 'user.delete', 'node.deploy']));
    expect((await api('GET', '/api/setup/status', { token: null })).body.data.needsSetup).toBe(false);
    expectStatus(await api('POST', '/api/auth/setup', { token: null, body: { ...ADMIN, username: 'second' } }), 409);

    const login = await api('POST', '/api/auth/login', { token: null, body: { email: ADMIN.email, password: ADMIN.password } });
    expectStatus(login, 200);
    expect(login.body.data).toMatchObject({ userId: setup.body.data.userId, email: ADMIN.email, username: ADMIN.username, token: expect.any(String) });
    admin = login.body.data.token;

    const doc = await api('GET', '/api/openapi.json', { token: null });
    expectStatus(doc, 200);
    expect(doc.body.openapi).toMatch(/^3\.1/);
    expect(Object.keys(doc.body.paths)).toContain('/api/servers/{serverId}/start');
  });

  it('a user registers; me, refresh, sessions, API keys, tokens', async () => {
    const reg = await api('POST', '/api/auth/register', { token: null, body: USER });
    expectStatus(reg, 200);
    expect(reg.body).toMatchObject({ success: true, data: { userId: expect.any(String), email: USER.email, username: USER.username, token: expect.any(String) } });
    userId = reg.body.data.userId;
    const login = await api('POST', '/api/auth/login', { token: null, body: { email: USER.email, password: USER.password } });
    expectStatus(login, 200);
    user = login.body.data.token;
    userRefresh = login.body.data.refreshToken;
    expectStatus(await api('POST', '/api/auth/login', { token: null, body: { email: USER.email, password: 'wrong password' } }), 401);

    const me = await api('GET', '/api/auth/me', { token: user });
    expectStatus(me, 200);
    expect(me.body.data).toMatchObject({ id: userId, email: USER.email, username: USER.username, createdAt: ISO });
    expectStatus(await api('GET', '/api/auth/me', { token: null }), 401);

    const refreshed = await api('POST', '/api/auth/refresh', { token: null, body: { refreshToken: userRefresh } });
    expectStatus(refreshed, 200);
    expect(refreshed.body.data).toMatchObject({ userId, token: expect.any(String), refreshToken: expect.any(String) });
    expect(refreshed.body.data.refreshToken).not.toBe(userRefresh);
    user = refreshed.body.data.token;
    userRefresh = refreshed.body.data.refreshToken;
    expectStatus(await api('GET', '/api/auth/me', { token: user }), 200);
    // A spent refresh token presented again is taken for a stolen one: 401, and the session ends.
    expectStatus(await api('POST', '/api/auth/refresh', { token: null, body: { refreshToken: login.body.data.refreshToken } }), 401);
    expectStatus(await api('GET', '/api/auth/me', { token: user }), 401);
    const again = await api('POST', '/api/auth/login', { token: null, body: { email: USER.email, password: USER.password } });
    expectStatus(again, 200);
    user = again.body.data.token;

    const sessions = await api('GET', '/api/auth/sessions', { token: user });
    expectStatus(sessions, 200);
    expect(sessions.body.data.length).toBeGreaterThanOrEqual(2);
    expect(sessions.body.data[0]).toMatchObject({ id: expect.any(String), createdAt: ISO, lastUsedAt: ISO, expiresAt: ISO, current: expect.any(Boolean) });
    const other = (sessions.body.data as { id: string; current: boolean }[]).find((x) => !x.current)!;
    firstSessionId = other.id;
    expect(await api('DELETE', `/api/auth/sessions/${firstSessionId}`, { token: user })).toMatchObject({ status: 200, body: { success: true, message: 'Session ended' } });
    expectStatus(await api('DELETE', `/api/auth/sessions/${firstSessionId}`, { token: user }), 404);

    const created = await api('POST', '/api/auth/api-keys', { token: user, body: { name: 'ci', permissions: ['server.read'] } });
    expectStatus(created, 201);
    expect(created.body).toMatchObject({ success: true, data: { id: expect.any(String), name: 'ci', permissions: ['server.read'], key: expect.any(String) } });
    const viaKey = await api('GET', '/api/auth/me', { token: created.body.data.key });
    expect(viaKey).toMatchObject({ status: 200, body: { data: { id: userId, via: 'apikey' } } });
    const keys = await api('GET', '/api/auth/api-keys', { token: user });
    expectStatus(keys, 200);
    expect(keys.body.data).toEqual([expect.objectContaining({ id: created.body.data.id, name: 'ci' })]);
    expect(JSON.stringify(keys.body.data)).not.toContain(created.body.data.key);
    expect(await api('DELETE', `/api/auth/api-keys/${created.body.data.id}`, { token: user })).toMatchObject({ status: 200, body: { success: true } });
    expectStatus(await api('GET', '/api/auth/me', { token: created.body.data.key }), 401);

    const ws = await api('POST', '/api/auth/tokens', { token: user, body: { purpose: 'websocket' } });
    expectStatus(ws, 200);
    expect(ws.body).toMatchObject({ success: true, data: { token: expect.any(String), purpose: 'websocket', expiresAt: ISO } });
  });

  it('two-factor: enrol, verify with a TOTP code, login needs the second factor, disable; password change', async () => {
    const enrol = await api('POST', '/api/auth/2fa/enroll', { token: user });
    expectStatus(enrol, 200);
    expect(enrol.body.data).toMatchObject({ secret: expect.any(String), otpauthUri: expect.stringMatching(/^otpauth:\/\/totp\//), digits: 6, period: 30, algorithm: 'SHA1' });
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrol.body.data.secret), digits: 6, period: 30, algorithm: 'SHA1' });
    expectStatus(await api('POST', '/api/auth/2fa/verify', { token: user, body: { code: '000000' === totp.generate() ? '111111' : '000000' } }), 400);
    const verify = await api('POST', '/api/auth/2fa/verify', { token: user, body: { code: totp.generate() } });
    expectStatus(verify, 200);
    expect(verify.body.data).toMatchObject({ enabled: true, recoveryCodes: expect.any(Array) });
    recoveryCodes = verify.body.data.recoveryCodes;
    expect(recoveryCodes).toHaveLength(10);
    expect((await api('GET', '/api/auth/me', { token: user })).body.data.totpEnabled).toBe(true);

    expect(await api('POST', '/api/auth/login', { token: null, body: { email: USER.email, password: USER.password } })).toMatchObject({ status: 401, body: { reason: 'totp_required' } });
    const second = await api('POST', '/api/auth/login', { token: null, body: { email: USER.email, password: USER.password, recoveryCode: recoveryCodes[0] } });
    expectStatus(second, 200);

    const disable = await api('POST', '/api/auth/2fa/disable', { token: user, body: { password: USER.password, code: recoveryCodes[1] } });
    expectStatus(disable, 200);
    expect(disable.body).toMatchObject({ success: true, data: { enabled: false } });

    const pw = await api('POST', '/api/auth/password', { token: user, body: { currentPassword: USER.password, newPassword: NEW_PASSWORD } });
    expectStatus(pw, 200);
    expect(pw.body).toMatchObject({ success: true, message: 'Password changed', data: { sessionsEnded: expect.any(Number) } });
    expect(pw.body.data.sessionsEnded).toBeGreaterThanOrEqual(1);
    // This session stays; the one from the 2FA login ended; the new password works.
    expectStatus(await api('GET', '/api/auth/me', { token: user }), 200);
    expectStatus(await api('GET', '/api/auth/me', { token: second.body.data.token }), 401);
    expectStatus(await api('POST', '/api/auth/login', { token: null, body: { email: USER.email, password: NEW_PASSWORD } }), 200);
  });

  it('admin: users, roles, the permission catalogue', async () => {
    const list = await api('GET', '/api/admin/users?page=1&limit=20');
    expectStatus(list, 200);
    expect(list.body).toMatchObject({ success: true, pagination: { page: 1, limit: 20, total: 2 } });
    expect(list.body.data).toEqual(expect.arrayContaining([expect.objectContaining({ id: userId, email: USER.email, username: USER.username, roles: [expect.objectContaining({ id: expect.any(String), name: expect.any(String), permissions: expect.any(Array) })], createdAt: ISO })]));
    expectStatus(await api('GET', '/api/admin/users', { token: user }), 403);
    const one = await api('GET', `/api/admin/users/${userId}`);
    expectStatus(one, 200);
    expect(one.body.data).toMatchObject({ id: userId, username: USER.username, permissions: expect.any(Array) });

    const perms = await api('GET', '/api/admin/permissions');
    expectStatus(perms, 200);
    expect(perms.body.data).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'server.start' })]));

    const role = await api('POST', '/api/admin/roles', { body: { name: 'Server Manager', description: 'power and console', permissions: ['server.read', 'server.start', 'server.stop'] } });
    expectStatus(role, 201);
    expect(role.body.data).toMatchObject({ id: expect.any(String), name: 'Server Manager', permissions: ['server.read', 'server.start', 'server.stop'], userCount: 0 });
    roleId = role.body.data.id;
    const roles = await api('GET', '/api/admin/roles');
    expectStatus(roles, 200);
    expect(roles.body.data.map((r: { id: string }) => r.id)).toContain(roleId);
    expect((await api('GET', `/api/admin/roles/${roleId}`)).body.data).toMatchObject({ id: roleId, name: 'Server Manager' });
    const updatedRole = await api('PUT', `/api/admin/roles/${roleId}`, { body: { permissions: ['server.read', 'server.start', 'server.stop', 'server.restart'] } });
    expectStatus(updatedRole, 200);
    expect(updatedRole.body.data.permissions).toContain('server.restart');

    const temp = await api('POST', '/api/admin/users', { body: { email: 'temp@example.com', username: 'temp', password: 'Temporary-Pass-1!', roleIds: ['user', roleId] } });
    expectStatus(temp, 201);
    expect(temp.body.data).toMatchObject({ id: expect.any(String), email: 'temp@example.com', username: 'temp', disabled: false, roles: expect.arrayContaining([expect.objectContaining({ id: roleId })]) });
    tempUserId = temp.body.data.id;
    const changed = await api('PUT', `/api/admin/users/${tempUserId}`, { body: { disabled: true, roleIds: ['user'] } });
    expectStatus(changed, 200);
    expect(changed.body.data).toMatchObject({ id: tempUserId, disabled: true, roles: [expect.objectContaining({ id: 'user' })] });
    expect(await api('DELETE', `/api/admin/users/${tempUserId}`)).toMatchObject({ status: 200, body: { success: true, message: 'User deleted' } });
    expectStatus(await api('GET', `/api/admin/users/${tempUserId}`), 404);
    expect(await api('DELETE', `/api/admin/roles/${roleId}`)).toMatchObject({ status: 200, body: { success: true, message: 'Role deleted' } });
    expectStatus(await api('GET', `/api/admin/roles/${roleId}`), 404);
  });

  it('nodes: list, get, a port range for the local node, a second node created, updated, given a deployment token, deleted; node metrics', async () => {
    const list = await api('GET', '/api/nodes');
    expectStatus(list, 200);
    expect(list.body.data).toEqual([expect.objectContaining({ id: NODE, name: expect.any(String), hostname: expect.any(String), isOnline: true, createdAt: ISO, servers: [] })]);
    const one = await api('GET', `/api/nodes/${NODE}`);
    expectStatus(one, 200);
    expect(one.body.data).toMatchObject({ id: NODE, isOnline: true, lastSeenAt: ISO, servers: [] });
    // Other suites may run servers on the same Docker engine: keep off their ports.
    const base = 30_000 + Math.floor(Math.random() * 300) * 100;
    const ranged = await api('PUT', `/api/nodes/${NODE}`, { body: { portRange: { start: base, end: base + 50 } } });
    expectStatus(ranged, 200);
    expect(ranged.body.data).toMatchObject({ id: NODE, portRange: { start: base, end: base + 50 } });

    const created = await api('POST', '/api/nodes', { body: { name: 'production-2', description: 'Second production node', hostname: 'node2.example.com', publicAddress: '192.0.2.10', maxMemoryMb: 65536, maxCpuCores: 32 } });
    expectStatus(created, 201);
    expect(created.body.data).toMatchObject({ id: 'production-2', name: 'production-2', hostname: 'node2.example.com', isOnline: false, deploymentToken: expect.any(String), expiresAt: ISO });
    expectStatus(await api('POST', '/api/nodes', { body: { name: 'production-2', hostname: 'x.example.com' } }), 409);
    const updated = await api('PUT', '/api/nodes/production-2', { body: { name: 'production-2-updated', maxMemoryMb: 131072 } });
    expectStatus(updated, 200);
    expect(updated.body.data).toMatchObject({ id: 'production-2', name: 'production-2-updated', maxMemoryMb: 131072 });
    expect((await api('GET', '/api/nodes/production-2')).body.data).toMatchObject({ id: 'production-2', name: 'production-2-updated', isOnline: false });
    const token = await api('POST', '/api/nodes/production-2/deployment-token', { body: { ttl: '30m' } });
    expectStatus(token, 200);
    expect(token.body).toMatchObject({ success: true, data: { deploymentToken: expect.any(String), expiresAt: ISO, nodeName: 'production-2', enrollUrl: `${gantry.url}/api/agent/enroll` } });
    expect(await api('DELETE', '/api/nodes/production-2')).toMatchObject({ status: 200, body: { success: true } });
    expectStatus(await api('GET', '/api/nodes/production-2'), 404);

    const metrics = await api('GET', `/api/nodes/${NODE}/metrics`);
    expectStatus(metrics, 200);
    expect(metrics.body.data).toMatchObject({ nodeId: NODE, start: ISO, end: ISO, points: expect.any(Array) });
  });

  it('templates: list, get, create, update, delete', async () => {
    const list = await api('GET', '/api/templates', { token: user });
    expectStatus(list, 200);
    expect(list.body.data).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'testgame', dockerImage: 'gantry-test/gameserver:1', startCommand: expect.any(String), ports: [expect.objectContaining({ internal: 25565 })], createdAt: ISO })]));
    expect((await api('GET', '/api/templates/testgame')).body.data).toMatchObject({ id: 'testgame', name: expect.any(String), stopCommand: 'stop' });

    const body = { name: 'Doc Template', description: 'made in the API session', dockerImage: 'gantry-test/gameserver:1', startCommand: '/gameserver.sh --port {{SERVER_PORT}}', stopCommand: 'stop', ports: [{ internal: 25565, external: 25565 }], environment: { EULA: 'TRUE' } };
    const created = await api('POST', '/api/templates', { body });
    expectStatus(created, 201);
    expect(created.body.data).toMatchObject({ id: 'doc-template', name: 'Doc Template', dockerImage: 'gantry-test/gameserver:1', stopCommand: 'stop', environment: { EULA: 'TRUE' } });
    expectStatus(await api('POST', '/api/templates', { token: user, body: { ...body, name: 'Nope' } }), 403);
    const updated = await api('PUT', '/api/templates/doc-template', { body: { description: 'updated' } });
    expectStatus(updated, 200);
    expect(updated.body.data).toMatchObject({ id: 'doc-template', description: 'updated', dockerImage: 'gantry-test/gameserver:1' });
    expect(await api('DELETE', '/api/templates/doc-template')).toMatchObject({ status: 200, body: { success: true, message: 'Template deleted' } });
    expectStatus(await api('GET', '/api/templates/doc-template'), 404);

    // A Pterodactyl egg: converted (dry run), then imported.
    const egg = { meta: { version: 'PTDL_v2' }, name: 'Doc Egg', docker_images: { 'Java 21': 'ghcr.io/pterodactyl/yolks:java_21' }, startup: 'java -jar {{SERVER_JARFILE}}', config: { stop: 'stop', startup: '{"done": ")! For help"}', files: '{}' }, variables: [{ name: 'Jar', env_variable: 'SERVER_JARFILE', default_value: 'server.jar', rules: 'required|string|max:20', user_editable: true, user_viewable: true }] };
    const dry = await api('POST', '/api/templates/import/pterodactyl?dryRun=true', { body: egg });
    expectStatus(dry, 200);
    expect(dry.body.data).toMatchObject({ dryRun: true, template: { id: 'doc-egg', dockerImage: 'ghcr.io/pterodactyl/yolks:java_21', readyPattern: '\\)! For help' } });
    expectStatus(await api('GET', '/api/templates/doc-egg'), 404);
    const imported = await api('POST', '/api/templates/import/pterodactyl', { body: egg });
    expectStatus(imported, 201);
    expect(imported.body.data.template.variables).toEqual([expect.objectContaining({ name: 'SERVER_JARFILE', required: true, default: 'server.jar' })]);
    expectStatus(await api('POST', '/api/templates/import/pterodactyl', { token: user, body: egg }), 403);
    expectStatus(await api('DELETE', '/api/templates/doc-egg'), 200);
  });

  it('a server: create, list, get, update, install', async () => {
    const created = await api('POST', '/api/servers', {
      body: { name: SERVER_NAME, description: 'Main lobby server', templateId: 'testgame', nodeId: NODE, allocatedMemoryMb: 128, allocatedCpuCores: 0.5, allocatedDiskMb: 512, environment: { MOTD: 'doc session' } },
    });
    expectStatus(created, 201);
    expect(created.body).toMatchObject({ success: true, data: { id: SERVER, uuid: expect.any(String), name: SERVER_NAME, status: 'stopped', nodeId: NODE, templateId: 'testgame', allocatedMemoryMb: 128 } });
    // Bound to the node, it is installed at once (image, data dir, container, script) and stays stopped.
    await until('installed and stopped', async () => {
      const d = await server();
      return d.status === 'stopped' && d.containerId && d.conditions?.some((c: { type: string; status: string }) => c.type === 'Installed' && c.status === 'True');
    }, 120_000);

    const list = await api('GET', `/api/servers?nodeId=${NODE}`);
    expectStatus(list, 200);
    expect(list.body.data).toEqual([expect.objectContaining({ id: SERVER, uuid: created.body.data.uuid, name: SERVER_NAME, nodeId: NODE, templateId: 'testgame', status: 'stopped', allocatedMemoryMb: 128, allocatedCpuCores: 0.5, allocatedDiskMb: 512, primaryPort: 25565, createdAt: ISO, updatedAt: ISO })]);
    // The player does not see a server that is not theirs.
    expect((await api('GET', '/api/servers', { token: user })).body.data).toEqual([]);
    expectStatus(await api('GET', s(), { token: user }), 404);

    const one = await api('GET', s());
    expectStatus(one, 200);
    expect(one.body.data).toMatchObject({ id: SERVER, node: { id: NODE }, template: { id: 'testgame', dockerImage: 'gantry-test/gameserver:1' }, status: 'stopped', environment: expect.objectContaining({ MOTD: 'doc session' }), crashCount: 0, restartPolicy: expect.any(String), maxCrashCount: expect.any(Number) });

    const updated = await api('PUT', s(), { body: { description: 'Updated description', allocatedMemoryMb: 160 } });
    expectStatus(updated, 200);
    expect(updated.body.data).toMatchObject({ id: SERVER, description: 'Updated description', allocatedMemoryMb: 160 });

    expect(await api('POST', s('/install'))).toMatchObject({ status: 200, body: { success: true, message: 'Installation started', serverId: SERVER } });
    await until('installed', async () => {
      const d = await server();
      return d.status === 'stopped' && d.conditions?.some((c: { type: string; status: string }) => c.type === 'Installed' && c.status === 'True');
    }, 120_000);

    // Transfer: the document's refusals on a one-node stack (the move itself, between three agents:
    // test/e2e/transfer.test.ts).
    expect(await api('POST', s('/transfer'), { body: { targetNodeId: NODE } })).toMatchObject({ status: 400, body: { message: `Server already on target node ${NODE}` } });
    expect(await api('POST', s('/transfer'), { body: { targetNodeId: 'no-such-node' } })).toMatchObject({ status: 404, body: { message: 'Node not found: "no-such-node"' } });
    expectStatus(await api('POST', s('/transfer'), { body: {} }), 400);
    expectStatus(await api('POST', s('/transfer'), { token: user, body: { targetNodeId: NODE } }), 404);
  }, 180_000);

  it('power: start (waits for running), logs, a command echoes, restart, stop, kill', async () => {
    const start = await api('POST', s('/start?wait=true&waitSeconds=120'));
    expectStatus(start, 200);
    expect(start.body).toMatchObject({ success: true, message: 'Server is running', status: 'running', reached: true });
    const logs = await api('GET', s('/logs?limit=100'));
    expectStatus(logs, 200);
    expect(logs.body.data[0]).toMatchObject({ id: expect.any(String), serverId: SERVER, stream: expect.stringMatching(/^(stdout|stderr|system)$/), data: expect.stringMatching(/\n$/), timestamp: ISO });
    // The console history is fed by the log stream, which may trail the status by a moment.
    await until('the ready line in the logs', async () => (await logText()).includes('Done! server ready'));

    expect(await api('POST', s('/command'), { body: { command: 'say Hello from API!' } })).toMatchObject({ status: 200, body: { success: true, message: 'Command sent' } });
    await until('the echo in the logs', async () => (await logText()).includes('[say] Hello from API!'));

    const restart = await api('POST', s('/restart?wait=true&waitSeconds=120'));
    expectStatus(restart, 200);
    expect(restart.body).toMatchObject({ success: true, status: 'running', reached: true });

    const stop = await api('POST', s('/stop?wait=true&waitSeconds=120'), { body: { timeout: 20 } });
    expectStatus(stop, 200);
    expect(stop.body).toMatchObject({ success: true, message: 'Server is stopped', status: 'stopped', reached: true });
    expect(await api('POST', s('/command'), { body: { command: 'say late' } })).toMatchObject({ status: 409 });

    expect((await api('POST', s('/start?wait=true&waitSeconds=120'))).body).toMatchObject({ status: 'running', reached: true });
    const kill = await api('POST', s('/kill'));
    expectStatus(kill, 200);
    expect(kill.body).toMatchObject({ success: true, message: 'Server killed', serverId: SERVER });
    await until('stopped after the kill', async () => (await server()).status === 'stopped', 60_000);
  }, 360_000);

  it('suspension: suspend, an action answers 423, unsuspend', async () => {
    const susp = await api('POST', s('/suspend'), { body: { reason: 'Billing issue' } });
    expectStatus(susp, 200);
    expect(susp.body).toMatchObject({ success: true, data: { id: SERVER, status: 'suspended', suspendedAt: ISO, suspendedByUserId: expect.any(String), suspensionReason: 'Billing issue' } });
    expectStatus(await api('POST', s('/suspend')), 409);
    expectStatus(await api('POST', s('/start')), 423);
    expect((await server()).suspended).toBe(true);
    const un = await api('POST', s('/unsuspend'));
    expectStatus(un, 200);
    expect(un.body).toEqual({ success: true, data: { id: SERVER, status: 'stopped', suspendedAt: null, suspendedByUserId: null, suspensionReason: null } });
    expectStatus(await api('POST', s('/unsuspend')), 409);
  });

  it('allocations, restart policy, crash count', async () => {
    const list = await api('GET', s('/allocations'));
    expectStatus(list, 200);
    expect(list.body.data).toEqual([expect.objectContaining({ containerPort: 25565, hostPort: expect.any(Number), isPrimary: true })]);
    const add = await api('POST', s('/allocations'), { body: { containerPort: 25575 } });
    expectStatus(add, 200);
    expect(add.body).toMatchObject({ success: true, data: { containerPort: 25575, hostPort: expect.any(Number), isPrimary: false } });
    const primary = await api('POST', s('/allocations/primary'), { body: { containerPort: 25575 } });
    expectStatus(primary, 200);
    expect(primary.body).toMatchObject({ success: true, data: { primaryPort: 25575 } });
    expectStatus(await api('DELETE', s('/allocations/25575')), 400); // the primary one
    expect((await api('POST', s('/allocations/primary'), { body: { containerPort: 25565 } })).body.data.primaryPort).toBe(25565);
    expect(await api('DELETE', s('/allocations/25575'))).toMatchObject({ status: 200, body: { success: true } });
    expect((await api('GET', s('/allocations'))).body.data.map((a: { containerPort: number }) => a.containerPort)).toEqual([25565]);

    const rp = await api('PATCH', s('/restart-policy'), { body: { restartPolicy: 'never', maxCrashCount: 5 } });
    expectStatus(rp, 200);
    expect(rp.body).toMatchObject({ success: true, restartPolicy: 'never', maxCrashCount: 5 });
    expect((await server()).restartPolicy).toBe('never');
    expect(await api('POST', s('/reset-crash-count'))).toMatchObject({ status: 200, body: { success: true, message: 'Crash count reset' } });
  });

  it('subusers: the player is given access, changed, listed, removed', async () => {
    const add = await api('POST', s('/subusers'), { body: { email: USER.email, permissions: ['server.read', 'server.logs.read'] } });
    expectStatus(add, 201);
    expect(add.body).toMatchObject({ success: true, data: expect.objectContaining({ userId, permissions: expect.arrayContaining(['server.read', 'server.logs.read']) }) });
    expect((await api('GET', s(), { token: user })).body.data).toMatchObject({ id: SERVER });
    expectStatus(await api('POST', s('/start'), { token: user }), 403);
    const changed = await api('PUT', s(`/subusers/${userId}`), { body: { permissions: ['server.read', 'server.logs.read', 'file.read'] } });
    expectStatus(changed, 200);
    expect(changed.body.data.permissions).toContain('file.read');
    const list = await api('GET', s('/subusers'));
    expectStatus(list, 200);
    expect(list.body.data).toEqual([expect.objectContaining({ userId, permissions: expect.arrayContaining(['file.read']) })]);
    expect(await api('DELETE', s(`/subusers/${userId}`))).toMatchObject({ status: 200, body: { success: true, message: 'Subuser removed' } });
    expectStatus(await api('GET', s(), { token: user }), 404);
  });

  it('metrics: the stats over time and one metric\'s history', async () => {
    // The agent samples a running container's stats: run it until a sample arrived.
    expect((await api('POST', s('/start?wait=true&waitSeconds=120'))).body).toMatchObject({ status: 'running', reached: true });
    const m = await until('a stats sample', async () => {
      const r = await api('GET', s('/metrics'));
      return r.status !== 200 || r.body.data?.points?.length ? r : undefined;
    }, 60_000);
    expectStatus(m, 200);
    expect(m.body.data).toMatchObject({ serverId: SERVER, start: ISO, end: ISO, interval: expect.any(String), points: expect.any(Array) });
    expect(m.body.data.points[0]).toMatchObject({ timestamp: ISO, cpu: expect.any(Number) });
    const end = new Date(Date.now() + 1000).toISOString();
    const startT = new Date(Date.now() - 3_600_000).toISOString();
    const h = await api('GET', s(`/metrics/history?metric_type=memory&start_time=${startT}&end_time=${end}&interval=1m`));
    expectStatus(h, 200);
    expect(h.body.data).toMatchObject({ metric_type: 'memory', interval: '1m', data_points: expect.any(Array) });
    expect(h.body.data.data_points[0]).toMatchObject({ timestamp: ISO, value: expect.any(Number) });
    expectStatus(await api('GET', s('/metrics/history?metric_type=memory')), 400);
    expect((await api('POST', s('/stop?wait=true&waitSeconds=120'), { body: { timeout: 20 } })).body).toMatchObject({ status: 'stopped', reached: true });
  }, 240_000);

  it('files: create, list, contents, write, upload, download, rename, copy, chmod, compress, decompress, delete', async () => {
    const dir = await api('POST', s('/files/create'), { body: { path: '/configs', isDirectory: true } });
    expectStatus(dir, 200);
    expect(dir.body).toMatchObject({ success: true, message: 'Directory created successfully', data: { name: 'configs', isDirectory: true } });
    const file = await api('POST', s('/files/create'), { body: { path: '/configs/new-config.yml', content: '# Configuration\nkey: value\n' } });
    expectStatus(file, 200);
    expect(file.body).toMatchObject({ success: true, message: 'File created successfully', data: { name: 'new-config.yml', isDirectory: false } });

    const root = await api('GET', s('/files?path=/'));
    expectStatus(root, 200);
    expect(root.body.data).toEqual(expect.arrayContaining([
      expect.objectContaining({ name: 'configs', size: expect.any(Number), isDirectory: true, modified: ISO }),
      expect.objectContaining({ name: 'installed', isDirectory: false, size: expect.any(Number) }),
    ]));
    const contents = await api('GET', s('/files/contents?path=/configs/new-config.yml'));
    expectStatus(contents, 200);
    expect(contents.body.data).toMatchObject({ path: '/configs/new-config.yml', content: '# Configuration\nkey: value\n' });

    const put = await api('PUT', s('/files/write'), { body: { path: '/configs/new-config.yml', content: 'key: changed\n' } });
    expectStatus(put, 200);
    expect(put.body).toMatchObject({ success: true, message: 'File written successfully', data: { path: '/configs/new-config.yml', size: 13 } });
    expectStatus(await api('POST', s('/files/write'), { body: { path: '/configs/other.yml', content: 'other: 1\n' } }), 200);
    expect((await api('GET', s('/files/contents?path=/configs/new-config.yml'))).body.data.content).toBe('key: changed\n');

    const form = new FormData();
    form.append('path', '/configs');
    form.append('file', new Blob(['uploaded bytes\n']), 'uploaded.txt');
    const up = await api('POST', s('/files/upload'), { form });
    expectStatus(up, 200);
    expect(up.body).toMatchObject({ success: true, message: 'File uploaded successfully' });
    const down = await api('GET', s('/files/download?path=/configs/uploaded.txt'), { raw: true });
    expectStatus(down, 200);
    expect(down.headers.get('content-type')).toBe('application/octet-stream');
    expect(down.headers.get('content-disposition')).toMatch(/^attachment; filename="uploaded\.txt"/);
    expect(down.raw!.toString()).toBe('uploaded bytes\n');

    expect(await api('POST', s('/files/rename'), { body: { from: '/configs/uploaded.txt', to: '/configs/renamed.txt' } })).toMatchObject({ status: 200, body: { success: true, message: 'File renamed successfully' } });
    expect(await api('POST', s('/files/copy'), { body: { from: '/configs/renamed.txt', to: '/configs/copy.txt' } })).toMatchObject({ status: 200, body: { success: true, message: 'File copied successfully' } });
    expect(await api('POST', s('/files/chmod'), { body: { path: '/configs/copy.txt', mode: '600' } })).toMatchObject({ status: 200, body: { success: true } });
    const listed = (await api('GET', s('/files?path=/configs'))).body.data as { name: string; mode: string }[];
    expect(listed.map((e) => e.name).sort()).toEqual(['copy.txt', 'new-config.yml', 'other.yml', 'renamed.txt']);
    expect(listed.find((e) => e.name === 'copy.txt')!.mode).toBe('0600');

    const zip = await api('POST', s('/files/compress'), { body: { paths: ['/configs'], archiveName: 'configs.tar.gz' } });
    expectStatus(zip, 200);
    expect(zip.body).toMatchObject({ success: true, archivePath: '/configs.tar.gz' });
    const unzip = await api('POST', s('/files/decompress'), { body: { archivePath: '/configs.tar.gz', targetPath: '/restored' } });
    expectStatus(unzip, 200);
    expect(unzip.body).toMatchObject({ success: true, message: 'Archive extracted successfully', data: { targetPath: '/restored' } });
    expect((await api('GET', s('/files/contents?path=/restored/configs/renamed.txt'))).body.data.content).toBe('uploaded bytes\n');

    expect(await api('DELETE', s('/files?path=/restored'))).toMatchObject({ status: 200, body: { success: true, message: 'File deleted successfully' } });
    const bulk = await api('POST', s('/files/delete'), { body: { paths: ['/configs.tar.gz', '/configs/copy.txt'] } });
    expectStatus(bulk, 200);
    expect(bulk.body).toMatchObject({ success: true, data: [{ path: '/configs.tar.gz', deleted: true }, { path: '/configs/copy.txt', deleted: true }] });
    const names = ((await api('GET', s('/files?path=/'))).body.data as { name: string }[]).map((e) => e.name);
    expect(names).not.toContain('restored');
    expect(names).not.toContain('configs.tar.gz');
  }, 120_000);

  it('backups: create (waits), list, get, download, restore (stopped, waits), delete', async () => {
    const created = await api('POST', s('/backups?wait=true&timeout=120'), { body: { name: 'manual-backup-20260125' } });
    expectStatus(created, 200);
    expect(created.body).toMatchObject({ success: true, message: 'Backup completed', backupName: 'manual-backup-20260125', backupId: expect.any(String) });
    backupId = created.body.backupId;
    expect(created.body.data).toMatchObject({ id: backupId, serverId: SERVER, name: 'manual-backup-20260125', status: 'completed', sizeMb: expect.any(Number), checksum: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), createdAt: ISO });

    const list = await api('GET', s('/backups'));
    expectStatus(list, 200);
    expect(list.body.data).toEqual([expect.objectContaining({ id: backupId, serverId: SERVER, name: 'manual-backup-20260125', path: expect.any(String), status: 'completed' })]);
    expect((await api('GET', s(`/backups/${backupId}`))).body.data).toMatchObject({ id: backupId, status: 'completed' });
    const dl = await api('GET', s(`/backups/${backupId}/download`), { raw: true });
    expectStatus(dl, 200);
    expect(dl.headers.get('content-type')).toBe('application/gzip');
    expect(dl.raw!.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));

    // Change a file, then the restore brings it back (the server is stopped).
    await api('PUT', s('/files/write'), { body: { path: '/configs/new-config.yml', content: 'lost change\n' } });
    expect((await server()).status).toBe('stopped');
    const restored = await api('POST', s(`/backups/${backupId}/restore?wait=true&timeout=120`), { body: { truncate: true } });
    expectStatus(restored, 200);
    expect(restored.body).toMatchObject({ success: true, message: 'Backup restored', restoreId: expect.any(String), data: { status: 'completed' } });
    expect((await api('GET', s('/files/contents?path=/configs/new-config.yml'))).body.data.content).toBe('key: changed\n');

    expect(await api('DELETE', s(`/backups/${backupId}`))).toMatchObject({ status: 200, body: { success: true, message: 'Backup deleted successfully' } });
    await until('the backup gone', async () => (await api('GET', s(`/backups/${backupId}`))).status === 404);
  }, 300_000);

  it('scheduled tasks: create, list, get, update, execute, delete', async () => {
    const created = await api('POST', '/api/tasks', { body: { serverId: SERVER, name: 'Daily Announcement', action: 'command', schedule: '0 12 * * *', payload: { command: 'say Server restart in 3 hours' }, enabled: true } });
    expectStatus(created, 201);
    expect(created.body.data).toMatchObject({ id: expect.any(String), serverId: SERVER, name: 'Daily Announcement', action: 'command', schedule: '0 12 * * *', payload: { command: 'say Server restart in 3 hours' }, enabled: true, lastRunAt: null, nextRunAt: ISO, runCount: 0, createdAt: ISO });
    taskId = created.body.data.id;
    const list = await api('GET', `/api/tasks?serverId=${SERVER}`);
    expectStatus(list, 200);
    expect(list.body.data).toEqual([expect.objectContaining({ id: taskId, action: 'command' })]);
    expect((await api('GET', `/api/tasks/${taskId}`)).body.data).toMatchObject({ id: taskId, name: 'Daily Announcement' });
    const updated = await api('PUT', `/api/tasks/${taskId}`, { body: { enabled: false, schedule: '0 4 * * *' } });
    expectStatus(updated, 200);
    expect(updated.body.data).toMatchObject({ id: taskId, enabled: false, schedule: '0 4 * * *', nextRunAt: null });
    const exec = await api('POST', `/api/tasks/${taskId}/execute`);
    expectStatus(exec, 200);
    expect(exec.body).toMatchObject({ success: true, message: 'Task execution queued' });
    expect(await api('DELETE', `/api/tasks/${taskId}`)).toMatchObject({ status: 200, body: { success: true } });
    expectStatus(await api('GET', `/api/tasks/${taskId}`), 404);
  });

  it('databases: a host (admin), a server database created, listed, rotated (the old password fails), deleted; a dead host is 503', async () => {
    maria = await startMariaDb();
    const host = await api('POST', '/api/admin/database-hosts', { body: { name: 'primary-mysql', host: maria.host, port: maria.port, username: maria.admin.username, password: maria.admin.password } });
    expectStatus(host, 201);
    const hostId = host.body.data.id;
    expect(JSON.stringify(host.body)).not.toContain(maria.admin.password);
    expect((await api('GET', '/api/admin/database-hosts')).body.data).toEqual([expect.objectContaining({ id: hostId, name: 'primary-mysql', databaseCount: 0 })]);
    expect((await api('GET', `/api/admin/database-hosts/${hostId}`)).body.data).toMatchObject({ id: hostId, host: maria.host, port: maria.port });
    expect((await api('POST', `/api/admin/database-hosts/${hostId}/test`)).body.data).toMatchObject({ reachable: true, version: expect.stringContaining('MariaDB') });
    expectStatus(await api('GET', '/api/admin/database-hosts', { token: user }), 403);

    const created = await api('POST', s('/databases'), { body: { hostId, name: 'server_db' } });
    expectStatus(created, 201);
    const db = created.body.data;
    expect(created.body).toMatchObject({ success: true, data: { id: expect.any(String), name: 'server_db', username: expect.any(String), password: expect.any(String), host: maria.host, port: maria.port, hostId, hostName: 'primary-mysql', createdAt: ISO } });
    const conn = await maria.connect(db.username, db.password, 'server_db');
    await conn.query('CREATE TABLE t (id INT)');
    await conn.end();
    expect((await api('POST', s('/databases'), { body: { hostId, name: 'server_db' } })).status).toBe(409);
    const list = await api('GET', s('/databases'));
    expectStatus(list, 200);
    expect(list.body.data).toEqual([expect.objectContaining({ id: db.id, name: 'server_db', password: db.password })]);
    const rotated = await api('POST', s(`/databases/${db.id}/rotate`));
    expectStatus(rotated, 200);
    expect(rotated.body.data.password).not.toBe(db.password);
    await expect(maria.connect(db.username, db.password, 'server_db')).rejects.toThrow(/Access denied/);
    (await maria.connect(db.username, rotated.body.data.password, 'server_db')).destroy();
    expect(await api('DELETE', s(`/databases/${db.id}`))).toMatchObject({ status: 200, body: { success: true } });
    expect(await maria.root('SHOW DATABASES LIKE ?', ['server_db'])).toEqual([]);

    // one kept for the server's deletion to drop; a host nothing listens on answers 503
    expectStatus(await api('POST', s('/databases'), { body: { hostId, name: 'lobby_stats' } }), 201);
    const dead = await api('PUT', `/api/admin/database-hosts/${hostId}`, { body: { port: await freePort() } });
    expect(dead).toMatchObject({ status: 503, body: { statusCode: 503, message: expect.stringContaining('Database host unavailable') } });
    const spare = await api('POST', '/api/admin/database-hosts', { body: { name: 'spare', host: '127.0.0.1', port: await freePort(), username: 'root', password: 'x', verify: false } });
    expectStatus(spare, 201);
    expect((await api('POST', s('/databases'), { body: { hostId: spare.body.data.id, name: 'nowhere' } })).status).toBe(503);
    expect(await api('DELETE', `/api/admin/database-hosts/${spare.body.data.id}`)).toMatchObject({ status: 200, body: { success: true } });
    expectStatus(await api('DELETE', `/api/admin/database-hosts/${hostId}`), 409);
  });

  it('alerts: rules CRUD; a real crash opens alerts; list, stats, get, resolve, bulk-resolve', async () => {
    const ruleBody = (name: string) => ({ name, type: 'server_crashed', target: 'server', targetId: SERVER, severity: 'warning', actions: [], cooldownSeconds: 0, enabled: true });
    for (const name of ['Lobby crashed', 'Lobby crashed (pager)']) {
      const r = await api('POST', '/api/alert-rules', { body: ruleBody(name) });
      expectStatus(r, 201);
      expect(r.body.data).toMatchObject({ id: expect.any(String), name, type: 'server_crashed', target: 'server', targetId: SERVER, enabled: true, createdAt: ISO });
      ruleIds.push(r.body.data.id);
    }
    const threshold = await api('POST', '/api/alert-rules', { body: { name: 'High CPU Alert', type: 'resource_threshold', target: 'server', targetId: '*', conditions: { metric: 'cpu', operator: '>', value: 90, duration: 300 }, actions: [{ type: 'webhook', url: 'https://discord.com/api/webhooks/1/x' }], enabled: true } });
    expectStatus(threshold, 201);
    expect(threshold.body.data).toMatchObject({ conditions: { metric: 'cpu', operator: '>', value: 90, duration: 300 }, actions: [{ type: 'webhook', url: 'https://discord.com/api/webhooks/1/x' }] });
    const rules = await api('GET', '/api/alert-rules');
    expectStatus(rules, 200);
    expect(rules.body.data.map((r: { id: string }) => r.id).sort()).toEqual([...ruleIds, threshold.body.data.id].sort());
    expect((await api('GET', `/api/alert-rules/${ruleIds[1]}`)).body.data).toMatchObject({ id: ruleIds[1], firing: 0 });
    const upd = await api('PUT', `/api/alert-rules/${ruleIds[1]}`, { body: { severity: 'critical' } });
    expectStatus(upd, 200);
    expect(upd.body.data).toMatchObject({ id: ruleIds[1], severity: 'critical', type: 'server_crashed' });
    expect(await api('DELETE', `/api/alert-rules/${threshold.body.data.id}`)).toMatchObject({ status: 200, body: { success: true, message: 'Alert rule deleted' } });

    // The image's `crash` command exits 3; with restart policy "never" the server stays crashed.
    expect((await api('POST', s('/start?wait=true&waitSeconds=120'))).body).toMatchObject({ status: 'running', reached: true });
    expectStatus(await api('POST', s('/command'), { body: { command: 'crash' } }), 200);
    await until('crashed', async () => (await server()).status === 'crashed', 60_000);
    const open = await until('two open alerts', async () => {
      const r = await api('GET', `/api/alerts?serverId=${SERVER}&type=server_crashed&resolved=false`);
      return r.body.data?.length === 2 ? r : undefined;
    }, 60_000);
    expectStatus(open, 200);
    expect(open.body.data[0]).toMatchObject({ id: expect.any(String), serverId: SERVER, nodeId: NODE, type: 'server_crashed', title: 'Server crashed', message: expect.any(String), metadata: expect.objectContaining({ exitCode: 3 }), resolved: false, resolvedAt: null, resolvedBy: null, createdAt: ISO });
    alertIds.push(...open.body.data.map((a: { id: string }) => a.id));

    const stats = await api('GET', '/api/alerts/stats');
    expectStatus(stats, 200);
    expect(stats.body.data).toMatchObject({ total: 2, unresolved: 2, byType: { server_crashed: 2 }, bySeverity: { warning: 1, critical: 1 } });
    expect((await api('GET', `/api/alerts/${alertIds[0]}`)).body.data).toMatchObject({ id: alertIds[0], resolved: false });
    const resolved = await api('POST', `/api/alerts/${alertIds[0]}/resolve`);
    expectStatus(resolved, 200);
    expect(resolved.body).toMatchObject({ success: true, message: 'Alert resolved', data: { id: alertIds[0], resolved: true, resolvedBy: ADMIN.username } });
    const bulk = await api('POST', '/api/alerts/bulk-resolve', { body: { alertIds: [alertIds[1]] } });
    expectStatus(bulk, 200);
    expect(bulk.body).toMatchObject({ success: true, resolved: 1 });
    expect((await api('GET', '/api/alerts?resolved=false')).body.data).toEqual([]);
    expect((await api('GET', '/api/alerts/stats')).body.data).toMatchObject({ total: 2, unresolved: 0 });

    for (const id of ruleIds) expectStatus(await api('DELETE', `/api/alert-rules/${id}`), 200);
    // Stopping a crashed server settles it as stopped; the wait answers once it did.
    expect((await api('POST', s('/stop?wait=true&waitSeconds=60'))).body).toMatchObject({ success: true, message: 'Server is stopped', status: 'stopped', reached: true });
  }, 300_000);

  it('admin views: stats, all servers, health, audit log', async () => {
    const stats = await api('GET', '/api/admin/stats');
    expectStatus(stats, 200);
    expect(stats.body.data).toMatchObject({ totalServers: 1, runningServers: 0, totalNodes: 1, onlineNodes: 1, totalUsers: 2, totalMemoryMb: expect.any(Number), usedMemoryMb: 160, totalCpuCores: expect.any(Number), usedCpuCores: 0.5 });
    const servers = await api('GET', '/api/admin/servers');
    expectStatus(servers, 200);
    expect(servers.body.data).toEqual([expect.objectContaining({ id: SERVER, name: SERVER_NAME, owner: expect.objectContaining({ username: ADMIN.username }), node: expect.objectContaining({ id: NODE }), status: 'stopped', allocatedMemoryMb: 160 })]);
    const health = await api('GET', '/api/admin/health');
    expectStatus(health, 200);
    expect(health.body.data).toMatchObject({ status: 'healthy', database: 'connected', nodes: { total: 1, online: 1, offline: 0 }, services: expect.any(Object), uptime: expect.any(Number) });
    const activity = await api('GET', s('/activity?limit=200'));
    expectStatus(activity, 200);
    expect(activity.body.data.find((e: { action: string }) => e.action === 'server.start')).toMatchObject({ username: ADMIN.username, resourceId: SERVER, metadata: expect.objectContaining({ serverUid: expect.any(String) }) });
    const audit = await api('GET', '/api/admin/audit-logs?action=server.start&limit=100');
    expectStatus(audit, 200);
    expect(audit.body.data.length).toBeGreaterThan(0);
    expect(audit.body.data.find((e: { status: number }) => e.status === 200)).toMatchObject({ id: expect.anything(), status: 200, userId: expect.any(String), username: ADMIN.username, action: 'server.start', resourceType: 'server', resourceId: SERVER, createdAt: ISO });
    expectStatus(await api('GET', '/api/admin/audit-logs', { token: user }), 403);
  });

  it('logout ends the session; the server is deleted', async () => {
    expect(await api('POST', '/api/auth/logout', { token: user })).toMatchObject({ status: 200, body: { success: true, message: 'Logged out' } });
    expectStatus(await api('GET', '/api/auth/me', { token: user }), 401);

    const del = await api('DELETE', s());
    expect(del).toMatchObject({ status: 200, body: { success: true, message: 'Server deleted successfully' } });
    await until('the server gone', async () => (await api('GET', s())).status === 404, 120_000);
    const ps = await run('docker', ['ps', '-aq', '--filter', `label=gantry.dev/server-name=${SERVER}`]);
    expect(ps.stdout.trim()).toBe('');
    // its database went with it
    await until('the server\'s database dropped', async () => (await maria.root<unknown[]>('SHOW DATABASES LIKE ?', ['lobby_stats'])).length === 0);
  }, 180_000);

  it('every declared route was called', () => {
    const missing = CATALYST_ROUTES.map(key).filter((k) => !called.has(k));
    expect(missing, `routes never called:\n  ${missing.join('\n  ')}`).toEqual([]);
    expect(unmatched, 'requests that matched no declared route').toEqual([]);
  });
});
