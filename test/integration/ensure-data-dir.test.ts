// The agent's ensureDataDir RPC (a bound server's data dir made before any image or container) on a
// real file system: made once, idempotent, confined to the servers root — `..` and a symlink pointing
// outside are refused, nothing is created outside.
import { mkdtemp, rm, stat, symlink, mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntimeHandlers, RpcDispatcher } from '../../agent/rpc-handlers.ts';
import { DockerRuntime } from '../../agent/runtime/docker-runtime.ts';
import type { RequestMessage } from '../../agent/protocol.ts';

describe('ensureDataDir', () => {
  let base: string;
  let rpc: RpcDispatcher;
  const call = async (params: Record<string, unknown>) => rpc.dispatch({ type: 'request', id: String(Math.random()), method: 'ensureDataDir', params } as RequestMessage);

  beforeAll(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'gantry-ensure-dir-'));
    const serversRoot = path.join(base, 'servers');
    const runtime = new DockerRuntime({ dataRoot: serversRoot });
    rpc = new RpcDispatcher({ handlers: createRuntimeHandlers({ runtime, serversRoot }) });
    await mkdir(path.join(base, 'outside'));
  });
  afterAll(() => rm(base, { recursive: true, force: true }));

  it('makes the dir once; a second call finds it', async () => {
    expect(await call({ uid: 'u1', dataDir: 'default/mc' })).toMatchObject({ ok: true, result: { created: true } });
    expect((await stat(path.join(base, 'servers/default/mc'))).isDirectory()).toBe(true);
    expect(await call({ uid: 'u1', dataDir: 'default/mc' })).toMatchObject({ ok: true, result: { created: false } });
  });

  it('refuses paths leaving the servers root, also through a symlink, and creates nothing there', async () => {
    for (const dataDir of ['../outside/x', '/etc/gantry-test', 'default/../../outside/y']) {
      const r = await call({ uid: 'u2', dataDir });
      expect(r, dataDir).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    }
    await symlink(path.join(base, 'outside'), path.join(base, 'servers/evil'));
    expect(await call({ uid: 'u3', dataDir: 'evil/mc' })).toMatchObject({ ok: false, error: { code: 'invalid_params', message: expect.stringContaining('symlink') } });
    expect(await readdir(path.join(base, 'outside'))).toEqual([]);
  });
});
