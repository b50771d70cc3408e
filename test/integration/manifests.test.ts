// The manifests directory against a real SQLite store and the real CRDs.
import { mkdtemp, rm, writeFile, unlink, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManifestSource } from '../../controller/sources/manifests.ts';
import type { Resource } from '../../crds/resource.ts';
import { openTestEnv, type TestEnv, captureLogs } from '../helpers/env.ts';

const template = (name: string, extra = '') => `apiVersion: gantry.dev/v1alpha1
kind: ServerTemplate
metadata:
  name: ${name}
spec:
  image: gantry-test/gameserver:1
  startCommand: /gameserver.sh
${extra}`;

const server = (name: string, memoryMb = 256) => `apiVersion: gantry.dev/v1alpha1
kind: GameServer
metadata:
  name: ${name}
  namespace: default
spec:
  templateRef: testgame
  state: Running
  resources:
    memoryMb: ${memoryMb}
`;

describe('manifests source', () => {
  let env: TestEnv;
  let dir: string;
  let source: ManifestSource;

  beforeEach(async () => {
    env = await openTestEnv();
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-manifests-'));
  });
  afterEach(async () => {
    await source?.stop();
    await env.close();
    await rm(dir, { recursive: true, force: true });
  });

  const start = async () => {
    source = new ManifestSource({ dir, store: env.store, registry: env.registry, events: env.events, log: env.log, debounceMs: 50 });
    await source.start();
    return source;
  };
  const names = async (kind: string) => (await env.store.list(kind)).items.map((i: Resource) => i.metadata.name).sort();
  /** Polls until the condition holds; the watcher applies edits asynchronously. */
  const eventually = async (fn: () => Promise<void>, ms = 5000) => {
    const end = Date.now() + ms;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (Date.now() > end) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };

  it('applies multi-document files, records the source file and applies edits', async () => {
    await writeFile(path.join(dir, 'all.yaml'), `${template('testgame')}---\n${server('alpha')}---\n${server('beta')}`);
    await start();
    expect(await names('GameServer')).toEqual(['alpha', 'beta']);
    const alpha = await env.store.get<Resource>('GameServer', 'default', 'alpha');
    expect(alpha.metadata.annotations?.['gantry.dev/manifest-file']).toBe('all.yaml');
    expect(alpha.metadata.labels?.['gantry.dev/managed-by']).toBe('manifests');
    expect((alpha.spec as { state: string }).state).toBe('Running');

    await writeFile(path.join(dir, 'all.yaml'), `${template('testgame')}---\n${server('alpha', 512)}---\n${server('beta')}`);
    await eventually(async () => {
      const a = await env.store.get<Resource>('GameServer', 'default', 'alpha');
      expect((a.spec as { resources: { memoryMb: number } }).resources.memoryMb).toBe(512);
      expect(a.metadata.generation).toBe(2);
    });
  });

  it('prunes a removed document and a removed file, and never touches unmanaged resources', async () => {
    await writeFile(path.join(dir, 'servers.yaml'), `${server('alpha')}---\n${server('beta')}`);
    await mkdir(path.join(dir, 'nested'));
    await writeFile(path.join(dir, 'nested', 'tmpl.yml'), template('testgame'));
    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'by-api', namespace: 'default' }, spec: { templateRef: 'testgame' } });
    await start();
    expect(await names('ServerTemplate')).toEqual(['testgame']);

    await writeFile(path.join(dir, 'servers.yaml'), server('alpha'));
    await eventually(async () => expect(await names('GameServer')).toEqual(['alpha', 'by-api']));

    await unlink(path.join(dir, 'nested', 'tmpl.yml'));
    await eventually(async () => expect(await names('ServerTemplate')).toEqual([]));
    expect(await names('GameServer')).toEqual(['alpha', 'by-api']);
  });

  it('reports a broken YAML file, a schema failure and an unknown kind while the valid documents apply', async () => {
    const logs = captureLogs();
    try {
      await writeFile(path.join(dir, 'a-broken.yaml'), 'kind: GameServer\nmetadata: {name: [unclosed\n');
      await writeFile(
        path.join(dir, 'b-mixed.yaml'),
        `${server('good')}---\n${server('bad', 1)}---\napiVersion: gantry.dev/v1alpha1\nkind: Spaceship\nmetadata: {name: x}\n`,
      );
      await writeFile(path.join(dir, 'README.md'), '# not a manifest, ignored');
      await start();
      expect(await names('GameServer')).toEqual(['good']);

      const problems = source.problems;
      expect(problems.get('a-broken.yaml')?.[0].message).toMatch(/YAML syntax error/);
      const mixed = problems.get('b-mixed.yaml')!;
      expect(mixed.find((p) => p.document === 1)?.field).toBe('spec.resources.memoryMb');
      expect(mixed.find((p) => p.document === 2)?.message).toMatch(/unknown kind "Spaceship"/);

      const events = await env.events.list({});
      const messages = events.map((e: { message: string }) => e.message);
      expect(messages.some((m: string) => m.startsWith('b-mixed.yaml document 1: spec.resources.memoryMb'))).toBe(true);
      expect(messages.some((m: string) => m.startsWith('a-broken.yaml document 0: YAML syntax error'))).toBe(true);
      const warn = logs.lines().find((l) => l.msg === 'manifest rejected' && l.file === 'b-mixed.yaml' && l.document === 1);
      expect(warn).toMatchObject({ level: 'warn', field: 'spec.resources.memoryMb' });
    } finally {
      logs.restore();
    }
  });

  it('keeps the last good resource when its document turns invalid or the file stops parsing', async () => {
    await writeFile(path.join(dir, 's.yaml'), `${server('alpha')}---\n${server('beta')}`);
    await start();
    await writeFile(path.join(dir, 's.yaml'), `${server('alpha', 1)}---\n${server('beta')}`);
    await eventually(async () => expect(source.problems.get('s.yaml')?.length).toBeGreaterThan(0));
    expect(await names('GameServer')).toEqual(['alpha', 'beta']);
    const alpha = await env.store.get<Resource>('GameServer', 'default', 'alpha');
    expect((alpha.spec as { resources: { memoryMb: number } }).resources.memoryMb).toBe(256);

    await writeFile(path.join(dir, 's.yaml'), `${server('alpha')}---\nkind: [oops\n`);
    await eventually(async () => expect(source.problems.get('s.yaml')?.[0].message).toMatch(/YAML syntax error/));
    expect(await names('GameServer')).toEqual(['alpha', 'beta']);

    await writeFile(path.join(dir, 's.yaml'), server('alpha'));
    await eventually(async () => expect(await names('GameServer')).toEqual(['alpha']));
    await eventually(async () => expect(source.problems.has('s.yaml')).toBe(false));
  });

  it('keeps the scheduler binding and one-shot triggers a manifest leaves out, and lets a manifest that sets them win', async () => {
    await writeFile(path.join(dir, 's.yaml'), server('alpha'));
    await start();
    await env.store.patch('GameServer', 'default', 'alpha', { spec: { nodeName: 'node-1', restartedAt: '2026-01-01T00:00:00Z' } });
    await writeFile(path.join(dir, 's.yaml'), server('alpha', 512));
    await eventually(async () => {
      const a = await env.store.get<Resource>('GameServer', 'default', 'alpha');
      expect(a.spec).toMatchObject({ nodeName: 'node-1', restartedAt: '2026-01-01T00:00:00Z', resources: { memoryMb: 512 } });
    });
    await writeFile(path.join(dir, 's.yaml'), server('alpha', 512) + '  nodeName: node-2\n');
    await eventually(async () => {
      const a = await env.store.get<Resource>('GameServer', 'default', 'alpha');
      expect((a.spec as { nodeName: string }).nodeName).toBe('node-2');
    });
  });

  it('refuses a resource declared in two files', async () => {
    await writeFile(path.join(dir, 'one.yaml'), server('alpha', 300));
    await writeFile(path.join(dir, 'two.yaml'), server('alpha', 400));
    await start();
    const alpha = await env.store.get<Resource>('GameServer', 'default', 'alpha');
    expect((alpha.spec as { resources: { memoryMb: number } }).resources.memoryMb).toBe(300);
    expect(source.problems.get('two.yaml')?.[0].message).toMatch(/already declared in one\.yaml/);
  });

  it('prunes, at start, what a file deleted while Gantry was down had created', async () => {
    await writeFile(path.join(dir, 'gone.yaml'), server('alpha'));
    await writeFile(path.join(dir, 'kept.yaml'), server('beta'));
    await start();
    await source.stop();
    await unlink(path.join(dir, 'gone.yaml'));
    await start();
    expect(await names('GameServer')).toEqual(['beta']);
  });
});
