// The CLI end to end: a real `gantry up` process, real files, `gantry login` and `gantry apply/get/delete`
// as an operator types them.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const GANTRY = path.join(ROOT, 'bin/gantry');
const run = promisify(execFile);
const ADMIN_PASSWORD = 'e2e-admin-password';
let configDir: string;
/** The CLI's environment: its own config dir, and no GANTRY_TOKEN inherited from whoever runs the tests. */
const cliEnv = (extra: Record<string, string> = {}) => {
  const env: NodeJS.ProcessEnv = { ...process.env, GANTRY_CONFIG_DIR: configDir, ...extra };
  if (!('GANTRY_TOKEN' in extra)) delete env.GANTRY_TOKEN;
  delete env.GANTRY_SERVER;
  return env;
};
const stored = async () => JSON.parse(await readFile(path.join(configDir, 'credentials.json'), 'utf8')) as { server: string; token: string; refreshToken: string };
const authed = async () => ({ authorization: `Bearer ${(await stored()).token}` });

interface Up {
  proc: ChildProcess;
  url: string;
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
}

async function startUp(dataDir: string, manifests: string): Promise<Up> {
  const proc = spawn(GANTRY, ['up', '--port', '0', '--sftp-port', '0', '--host', '127.0.0.1', '--node-name', 'e2e-local', '--data-dir', dataDir, '--manifests', manifests], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // The test reads the 'gantry is up' line; the first administrator is created from the environment.
    env: { ...process.env, GANTRY_LOG_LEVEL: 'info', GANTRY_ADMIN_PASSWORD: ADMIN_PASSWORD },
  });
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    proc.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        try {
          const rec = JSON.parse(l) as Record<string, unknown>;
          logs.push(rec);
          if (rec.msg === 'gantry is up') resolve(rec.url as string);
        } catch {
          logs.push({ raw: l });
        }
      }
    });
    void exited.then((code) => reject(new Error(`gantry up exited with ${code}: ${JSON.stringify(logs.slice(-5))}`)));
  });
  return { proc, url, logs, exited };
}

const gantryEnv = async (env: NodeJS.ProcessEnv, args: string[]) => {
  try {
    const { stdout, stderr } = await run(GANTRY, args, { cwd: ROOT, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};
const gantry = (url: string, ...args: string[]) => gantryEnv(cliEnv(), [...args, '--server', url]);

/** Runs the CLI with `input` on stdin (a pipe, not a terminal). */
function gantryInput(env: NodeJS.ProcessEnv, input: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(GANTRY, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input);
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('gantry CLI against gantry up', () => {
  let dataDir: string;
  let manifests: string;
  let up: Up;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-data-'));
    configDir = await mkdtemp(path.join(tmpdir(), 'gantry-config-'));
    manifests = await mkdtemp(path.join(tmpdir(), 'gantry-manifests-'));
    await writeFile(path.join(manifests, 'broken.yaml'), 'apiVersion: gantry.dev/v1alpha1\nkind: GameServer\nmetadata: {name: [\n');
    await writeFile(
      path.join(manifests, 'node.yaml'),
      'apiVersion: gantry.dev/v1alpha1\nkind: GameNode\nmetadata:\n  name: from-git\nspec:\n  address: 10.0.0.5\n',
    );
    up = await startUp(dataDir, manifests);
  });
  afterAll(async () => {
    if (up?.proc.exitCode === null) up.proc.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
    await rm(configDir, { recursive: true, force: true });
    await rm(manifests, { recursive: true, force: true });
  });

  it('serves health and version', async () => {
    const health = (await (await fetch(`${up.url}/healthz`)).json()) as { status: string };
    expect(health.status).toBe('ok');
    expect((await gantry(up.url, 'version')).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('refuses an anonymous CLI with a hint, then logs in with the password on stdin', async () => {
    const anon = await gantry(up.url, 'get', 'gameservers');
    expect(anon.code).toBe(1);
    expect(anon.stderr).toContain(`not logged in to ${up.url}: run \`gantry login --server ${up.url}\``);

    const wrong = await gantryInput(cliEnv(), 'not-the-password\n', ['login', '--server', up.url, '--username', 'admin', '--password-stdin']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/login to .* failed: Invalid credentials/);
    const noTty = await gantryInput(cliEnv(), '', ['login', '--server', up.url, '--username', 'admin']);
    expect(noTty.code).toBe(2);
    expect(noTty.stderr).toMatch(/--password-stdin/);

    const ok = await gantryInput(cliEnv(), ADMIN_PASSWORD + '\n', ['login', '--server', up.url, '--username', 'admin', '--password-stdin']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^Logged in to .* as admin \(admin@gantry\.local\)/);
    expect((await stat(path.join(configDir, 'credentials.json'))).mode & 0o777).toBe(0o600);
    expect((await stored()).server).toBe(up.url);

    // Without --server the CLI talks to the server it logged in to.
    const who = await gantryEnv(cliEnv(), ['whoami']);
    expect(who.stdout).toContain(`admin (admin@gantry.local) on ${up.url}`);
    expect(who.stdout).toMatch(/roles: Administrator/);
  });

  it('refreshes an expired or refused access token with the stored refresh token', async () => {
    const before = await stored();
    await writeFile(path.join(configDir, 'credentials.json'), JSON.stringify({ ...before, token: 'eyJhbGciOiJIUzI1NiJ9.e30.invalid' }), { mode: 0o600 });
    const who = await gantry(up.url, 'whoami', '-o', 'json');
    expect(who.code).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ username: 'admin', via: 'session' });
    const after = await stored();
    expect(after.token).not.toBe(before.token);
    expect(after.refreshToken).not.toBe(before.refreshToken);
    // The spent refresh token is not kept anywhere to be replayed.
    expect(await readFile(path.join(configDir, 'credentials.json'), 'utf8')).not.toContain(before.refreshToken);
  });

  it('authenticates with GANTRY_TOKEN (an API key) instead of the stored login', async () => {
    const res = await fetch(`${up.url}/api/auth/api-keys`, { method: 'POST', headers: { 'content-type': 'application/json', ...(await authed()) }, body: JSON.stringify({ name: 'e2e', permissions: ['*'] }) });
    expect(res.status).toBe(201);
    const { key } = ((await res.json()) as { data: { key: string } }).data;
    const empty = await mkdtemp(path.join(tmpdir(), 'gantry-config-empty-'));
    try {
      const viaKey = await gantryEnv(cliEnv({ GANTRY_TOKEN: key, GANTRY_CONFIG_DIR: empty }), ['whoami', '--server', up.url]);
      expect(viaKey.stdout).toMatch(/signed in with: an API key/);
      expect((await gantryEnv(cliEnv({ GANTRY_TOKEN: key, GANTRY_CONFIG_DIR: empty }), ['get', 'servertemplates', '-o', 'name', '--server', up.url])).stdout).toMatch(/testgame/);
      const bad = await gantryEnv(cliEnv({ GANTRY_TOKEN: 'gak_revoked', GANTRY_CONFIG_DIR: empty }), ['get', 'gs', '--server', up.url]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/GANTRY_TOKEN was refused/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('runs a local agent, enrolled automatically as the GameNode for this machine', async () => {
    const deadline = Date.now() + 60_000;
    let phase: string | undefined;
    while (Date.now() < deadline && phase !== 'Online') {
      const res = await gantry(up.url, 'get', 'gamenode', 'e2e-local', '-o', 'json');
      phase = res.code === 0 ? JSON.parse(res.stdout).status?.phase : undefined;
      if (phase !== 'Online') await new Promise((r) => setTimeout(r, 200));
    }
    expect(phase).toBe('Online');
  });

  it('seeds the example template on first start', async () => {
    const tmpl = JSON.parse((await gantry(up.url, 'get', 'tmpl', 'testgame', '-o', 'json')).stdout);
    expect(tmpl.metadata.labels['gantry.dev/seeded']).toBe('true');
    expect(tmpl.spec.image).toBe('gantry-test/gameserver:1');
  });

  it('applies the examples and lists the example GameServer with its printer columns', async () => {
    const applied = await gantry(up.url, 'apply', '-f', 'manifests/examples');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/gameserver\.gantry\.dev\/example created/);

    const again = await gantry(up.url, 'apply', '-f', 'manifests/examples');
    expect(again.stdout).toMatch(/gameserver\.gantry\.dev\/example unchanged/);

    const table = await gantry(up.url, 'get', 'gameservers');
    const [header, ...rows] = table.stdout.trim().split('\n');
    expect(header.split(/\s{2,}/)[0]).toBe('NAME');
    expect(header).toMatch(/STATE/);
    expect(rows.map((r) => r.split(/\s+/)[0])).toEqual(['example']);

    const yaml = await gantry(up.url, 'get', 'gs', 'example', '-o', 'yaml');
    expect(yaml.stdout).toMatch(/kind: GameServer/);
    expect(yaml.stdout).toMatch(/uid: [0-9a-f-]{36}/);

    const json = JSON.parse((await gantry(up.url, 'get', 'servertemplates', '-o', 'json')).stdout) as { items: unknown[] };
    expect(json.items.length).toBeGreaterThan(0);
  });

  it('reports a broken manifest while the valid file applies', async () => {
    const nodes = await gantry(up.url, 'get', 'gamenodes');
    expect(nodes.stdout).toMatch(/from-git/);
    const events = (await (await fetch(`${up.url}/k8s/api/v1/events`, { headers: await authed() })).json()) as { items: { reason: string; message: string }[] };
    expect(events.items.some((e) => e.reason === 'ManifestInvalid' && e.message.startsWith('broken.yaml document 0: YAML syntax error'))).toBe(true);
    expect(up.logs.some((l) => l.msg === 'manifest rejected' && l.file === 'broken.yaml' && l.level === 'warn')).toBe(true);
  });

  it('applies an edit to the manifests dir within seconds', async () => {
    await writeFile(
      path.join(manifests, 'node.yaml'),
      'apiVersion: gantry.dev/v1alpha1\nkind: GameNode\nmetadata:\n  name: from-git\nspec:\n  address: 10.0.0.6\n',
    );
    const deadline = Date.now() + 10_000;
    let address = '';
    while (Date.now() < deadline) {
      address = JSON.parse((await gantry(up.url, 'get', 'gn', 'from-git', '-o', 'json')).stdout).spec.address;
      if (address === '10.0.0.6') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(address).toBe('10.0.0.6');
  });

  it('gives clear errors for bad input', async () => {
    const unknownKind = await gantry(up.url, 'get', 'spaceships');
    expect(unknownKind.code).toBe(1);
    expect(unknownKind.stderr).toMatch(/doesn't have a resource type "spaceships"/);

    const missing = await gantry(up.url, 'get', 'gs', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/gameservers\.gantry\.dev "nope" not found/);

    const bad = path.join(manifests, '..', `bad-${process.pid}.yaml`);
    await writeFile(bad, 'apiVersion: gantry.dev/v1alpha1\nkind: GameServer\nmetadata: {name: bad}\nspec: {templateRef: t, state: Exploded}\n');
    const invalid = await gantry(up.url, 'apply', '-f', bad);
    await rm(bad);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/spec\.state/);

    const unreachable = await gantry('http://127.0.0.1:1', 'get', 'gs');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach Gantry/);
  });

  it('deletes, then shuts down cleanly on SIGTERM and keeps its data across a restart', async () => {
    expect((await gantry(up.url, 'delete', 'gameserver', 'example')).stdout).toMatch(/"example" deleted/);
    // The finalizer removes the example's container first; then the object goes.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && (await gantry(up.url, 'get', 'gs', 'example')).code === 0) await new Promise((r) => setTimeout(r, 200));
    expect((await gantry(up.url, 'get', 'gs', 'example')).code).toBe(1);

    up.proc.kill('SIGTERM');
    expect(await up.exited).toBe(0);
    expect(up.logs.some((l) => l.msg === 'stopped cleanly')).toBe(true);
    expect(up.logs.filter((l) => l.level === 'warn' && String(l.msg).startsWith('local agent did not stop'))).toEqual([]);

    up = await startUp(dataDir, manifests);
    // Port 0 gave the restarted server another port: point the stored login at it (same data dir, so
    // the same session and signing secret) instead of logging in again.
    await writeFile(path.join(configDir, 'credentials.json'), JSON.stringify({ ...(await stored()), server: up.url }), { mode: 0o600 });
    const tmpl = await gantry(up.url, 'get', 'servertemplates', '-o', 'name');
    // The local agent reconnects with its stored credential: no new token is issued.
    const reconnectDeadline = Date.now() + 60_000;
    while (Date.now() < reconnectDeadline && !up.logs.some((l) => l.msg === 'agent connected')) await new Promise((r) => setTimeout(r, 100));
    expect(up.logs.some((l) => l.msg === 'agent connected' && l.node === 'e2e-local')).toBe(true);
    expect(up.logs.some((l) => l.msg === 'deployment token issued')).toBe(false);
    expect(tmpl.stdout).toMatch(/servertemplate\.gantry\.dev\/testgame/);
    // The stored login survived the restart; logging out ends it on the server and locally.
    const { token } = await stored();
    expect((await gantry(up.url, 'whoami')).code).toBe(0);
    expect((await gantryEnv(cliEnv(), ['logout'])).stdout).toContain(`Logged out of ${up.url}`);
    expect((await fetch(`${up.url}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    const after = await gantry(up.url, 'whoami');
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/not logged in .*gantry login/);
    up.proc.kill('SIGINT');
    expect(await up.exited).toBe(0);
  });
});
