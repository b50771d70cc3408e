// The files.* RPC params and the `stream` control message in agent/protocol.ts: what the validators
// accept and refuse before anything reaches the agent's file system.
import { describe, expect, it } from 'vitest';
import { checkRequest, parseAgentMessage, parseControllerMessage, type RequestMessage } from '../../agent/protocol.ts';

const req = (method: string, params: Record<string, unknown>) => ({ type: 'request', id: '1', method, params }) as unknown as RequestMessage;

describe('files.* params', () => {
  it('accepts well-formed calls', () => {
    expect(checkRequest(req('files.list', { uid: 'u', path: '/' }))).toBeUndefined();
    expect(checkRequest(req('files.chmod', { uid: 'u', dataDir: 'ns/srv', path: '/a', mode: 0o644 }))).toBeUndefined();
    expect(checkRequest(req('files.download', { uid: 'u', path: '/a', streamId: 1, window: 4 * 1024 * 1024 }))).toBeUndefined();
    expect(checkRequest(req('files.upload', { uid: 'u', path: '/a', streamId: 0xffffffff, maxBytes: 0 }))).toBeUndefined();
    expect(checkRequest(req('files.delete', { uid: 'u', paths: ['/a', '/b'] }))).toBeUndefined();
  });

  it('refuses bad params with invalid_params naming the problem', () => {
    const bad: [string, Record<string, unknown>, RegExp][] = [
      ['files.list', { path: '/' }, /uid/],
      ['files.list', { uid: 'u' }, /path/],
      ['files.chmod', { uid: 'u', path: '/a', mode: 0o4755 }, /mode/],
      ['files.download', { uid: 'u', path: '/a', streamId: 0, window: 65536 }, /streamId/],
      ['files.download', { uid: 'u', path: '/a', streamId: 1, window: 10 }, /window/],
      ['files.upload', { uid: 'u', path: '/a', streamId: 1, maxBytes: -1 }, /maxBytes/],
      ['files.delete', { uid: 'u', paths: [] }, /paths/],
      ['files.write', { uid: 'u', path: '/a', content: 'x'.repeat(2 * 1024 * 1024 + 1) }, /content/],
      ['files.read', { uid: 'u', path: '/a', extra: true }, /additional/],
      ['files.list', { uid: 'u', path: 'x'.repeat(4097) }, /path/],
    ];
    for (const [method, params, why] of bad) {
      const r = checkRequest(req(method, params));
      expect(r?.code, `${method} ${JSON.stringify(params).slice(0, 80)}`).toBe('invalid_params');
      expect(r?.message).toMatch(why);
    }
  });
});

describe('stream messages', () => {
  it('are valid both ways; bad ones are refused', () => {
    for (const parse of [parseAgentMessage, parseControllerMessage]) {
      expect(parse(JSON.stringify({ type: 'stream', id: 3, op: 'credit', bytes: 65536 })).ok).toBe(true);
      expect(parse(JSON.stringify({ type: 'stream', id: 3, op: 'abort', error: { code: 'too_large', message: 'm' } })).ok).toBe(true);
      expect(parse(JSON.stringify({ type: 'stream', id: 3, op: 'end' })).ok).toBe(true);
      expect(parse(JSON.stringify({ type: 'stream', id: 0, op: 'end' })).ok).toBe(false);
      expect(parse(JSON.stringify({ type: 'stream', id: 3, op: 'credit', bytes: -1 })).ok).toBe(false);
      expect(parse(JSON.stringify({ type: 'stream', id: 3, op: 'pause' })).ok).toBe(false);
    }
  });
});
