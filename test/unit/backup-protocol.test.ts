// The backup/restore RPCs' parameter validation (agent/protocol.ts): uids become file names on the
// node, so anything that could climb out of a directory is refused before a handler runs.
import { describe, expect, it } from 'vitest';
import { checkRequest, type RequestMessage } from '../../agent/protocol.ts';
import { RpcDispatcher, requestUid } from '../../agent/rpc-handlers.ts';

const req = (method: string, params: Record<string, unknown>) => ({ type: 'request', id: '1', method, params }) as unknown as RequestMessage;
const SHA = 'e'.repeat(64);

describe('backup RPC params', () => {
  it('accepts well-formed calls', () => {
    expect(checkRequest(req('backup.create', { uid: 'a-1', backupUid: 'b-2', dataDir: 'default/mc', ignore: ['logs/'] }))).toBeUndefined();
    expect(checkRequest(req('backup.delete', { backupUid: 'b-2' }))).toBeUndefined();
    expect(checkRequest(req('restore.run', { uid: 'a-1', restoreUid: 'r', dataDir: 'default/mc', backup: { serverUid: 'a-1', backupUid: 'b-2' }, sha256: SHA, truncate: true }))).toBeUndefined();
  });

  it('refuses uids that could name another path, bad checksums and unknown fields, naming the field', () => {
    expect(checkRequest(req('backup.create', { uid: '../etc', backupUid: 'b', dataDir: 'd' }))).toMatchObject({ code: 'invalid_params', message: expect.stringMatching(/\/uid/) });
    expect(checkRequest(req('backup.create', { uid: 'a', backupUid: 'b/c', dataDir: 'd' }))).toMatchObject({ code: 'invalid_params', message: expect.stringMatching(/backupUid/) });
    expect(checkRequest(req('backup.delete', { backupUid: '.hidden' }))).toMatchObject({ code: 'invalid_params' });
    expect(checkRequest(req('restore.run', { uid: 'a', restoreUid: 'r', dataDir: 'd', backup: { serverUid: 'a', backupUid: '..' }, sha256: SHA }))).toMatchObject({ code: 'invalid_params', message: expect.stringMatching(/backup\/backupUid/) });
    expect(checkRequest(req('restore.run', { uid: 'a', restoreUid: 'r', dataDir: 'd', backup: { serverUid: 'a', backupUid: 'b' }, sha256: 'XYZ' }))).toMatchObject({ code: 'invalid_params', message: expect.stringMatching(/sha256/) });
    expect(checkRequest(req('restore.run', { uid: 'a', restoreUid: 'r', dataDir: 'd', backup: { serverUid: 'a', backupUid: 'b' }, sha256: SHA, path: '/etc/shadow' }))).toMatchObject({ code: 'invalid_params' });
    expect(checkRequest(req('backup.create', { uid: 'a', backupUid: 'b', dataDir: 'd', ignore: [''] }))).toMatchObject({ code: 'invalid_params' });
  });

  it('queues a restore behind the server\'s other requests (its uid is the server\'s)', () => {
    expect(requestUid(req('restore.run', { uid: 'srv', restoreUid: 'r' }))).toBe('srv');
  });
});

describe('transfer RPC params', () => {
  const T = { uid: 'a-1', transferId: '0f3a9c', dataDir: 'default/mc' };
  it('accepts well-formed calls', () => {
    expect(checkRequest(req('transfer.send', { ...T, streamId: 3, window: 4 * 1024 * 1024 }))).toBeUndefined();
    expect(checkRequest(req('transfer.receive', { ...T, streamId: 4 }))).toBeUndefined();
    expect(checkRequest(req('transfer.commit', { ...T, sha256: SHA }))).toBeUndefined();
    expect(checkRequest(req('transfer.abort', T))).toBeUndefined();
  });

  it('refuses ids that could name another directory, bad checksums, missing fields and extras', () => {
    expect(checkRequest(req('transfer.receive', { ...T, transferId: '../x', streamId: 4 }))).toMatchObject({ code: 'invalid_params', message: expect.stringMatching(/transferId/) });
    expect(checkRequest(req('transfer.commit', { ...T, transferId: '.hidden', sha256: SHA }))).toMatchObject({ code: 'invalid_params' });
    expect(checkRequest(req('transfer.commit', { ...T, sha256: 'E'.repeat(64) }))).toMatchObject({ code: 'invalid_params', message: expect.stringMatching(/sha256/) });
    expect(checkRequest(req('transfer.send', { ...T, streamId: 3 }))).toMatchObject({ code: 'invalid_params', message: expect.stringMatching(/window/) });
    expect(checkRequest(req('transfer.abort', { ...T, path: '/etc' }))).toMatchObject({ code: 'invalid_params' });
    expect(checkRequest(req('transfer.send', { ...T, streamId: 0, window: 4096 }))).toMatchObject({ code: 'invalid_params' });
  });

  it('queues commit and abort behind the server\'s other requests; send and receive run beside them', async () => {
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const handler = (name: string, wait?: Promise<void>) => async () => {
      order.push(`${name} start`);
      await wait;
      order.push(`${name} end`);
      return {};
    };
    const d = new RpcDispatcher({ handlers: { create: handler('create', held), 'transfer.commit': handler('commit'), 'transfer.receive': handler('receive') } as never });
    const spec = { serverUid: 'a-1', name: 'mc', namespace: 'default', image: 'i', dataDir: 'default/mc', dataPath: '/data' };
    const running = [d.dispatch(req('create', { spec })), d.dispatch(req('transfer.receive', { ...T, streamId: 4 })), d.dispatch(req('transfer.commit', { ...T, sha256: SHA }))];
    await new Promise((r) => setTimeout(r, 10));
    // The receive ran while the create held the server's queue; the commit waits behind the create.
    expect([...order].sort()).toEqual(['create start', 'receive end', 'receive start']);
    release();
    await Promise.all(running);
    expect(order.slice(3)).toEqual(['create end', 'commit start', 'commit end']);
  });
});
