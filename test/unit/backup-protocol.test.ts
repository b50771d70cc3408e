// The backup/restore RPCs' parameter validation (agent/protocol.ts): uids become file names on the
// node, so anything that could climb out of a directory is refused before a handler runs.
import { describe, expect, it } from 'vitest';
import { checkRequest, type RequestMessage } from '../../agent/protocol.ts';
import { requestUid } from '../../agent/rpc-handlers.ts';

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
