// The CLI end to end: a real `gantry up` process, real files, `gantry apply/get/delete` as an operator types them.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const GANTRY = path.join(ROOT, 'bin/gantry');
const run = promisify(execFile);

interface Up {
  proc: ChildProcess;
  url: string;
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
}

async function startUp(dataDir: string, manifests: string): Promise<Up> {
  const proc = spawn(GANTRY, ['up', '--port', '0', '--host', '127.0.0.1', '--node-name', 'e2e-local', '--data-dir', dataDir, '--manifests', manifests], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GANTRY_LOG_LEVEL: 'info' }, // the test reads the 'gantry is up' line
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

const gantry = async (url: string, ...args: string[]) => {
  try {
    const { stdout, stderr } = await run(GANTRY, [...args, '--server', url], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

describe('gantry CLI against gantry up', () => {
  let dataDir: string;
  let manifests: string;
  let up: Up;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-data-'));
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
    await rm(manifests, { recursive: true, force: true });
  });

  it('serves health and version', async () => {
    const health = (await (await fetch(`${up.url}/healthz`)).json()) as { status: string };
    expect(health.status).toBe('ok');
    expect((await gantry(up.url, 'version')).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
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
    const events = (await (await fetch(`${up.url}/api/v1/events`)).json()) as { items: { reason: string; message: string }[] };
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
    expect(missing.stderr).toMatch(/GameServer "nope" not found/);

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
    const tmpl = await gantry(up.url, 'get', 'servertemplates', '-o', 'name');
    // The local agent reconnects with its stored credential: no new token is issued.
    const reconnectDeadline = Date.now() + 60_000;
    while (Date.now() < reconnectDeadline && !up.logs.some((l) => l.msg === 'agent connected')) await new Promise((r) => setTimeout(r, 100));
    expect(up.logs.some((l) => l.msg === 'agent connected' && l.node === 'e2e-local')).toBe(true);
    expect(up.logs.some((l) => l.msg === 'deployment token issued')).toBe(false);
    expect(tmpl.stdout).toMatch(/servertemplate\.gantry\.dev\/testgame/);
    up.proc.kill('SIGINT');
    expect(await up.exited).toBe(0);
  });
});
