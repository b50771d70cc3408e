import { describe, expect, it } from 'vitest';
import { checkRequest, MAX_FRAME_BYTES, parseAgentMessage, parseControllerMessage, RPC_METHODS, type RequestMessage } from '../../agent/protocol.ts';

describe('agent protocol parsing', () => {
  it.each(['null', '1', '"x"', '[]', 'true', '{}', '{"type": null}', '{"type": "toString"}', '{"type": "__proto__"}'])(
    'refuses %s from either side without throwing',
    (raw) => {
      const a = parseAgentMessage(raw);
      const c = parseControllerMessage(raw);
      expect(a.ok).toBe(false);
      expect(c.ok).toBe(false);
      if (!a.ok) expect(a.error).toMatch(/unknown agent message type/);
    },
  );

  it('names what is wrong', () => {
    const notJson = parseAgentMessage('{"type": ');
    expect(!notJson.ok && notJson.error).toMatch(/^not JSON/);
    const missing = parseAgentMessage('{"type":"container","container":{"uid":"u"}}');
    expect(!missing.ok && missing.error).toMatch(/invalid container message: \/container must have required property/);
    const big = parseAgentMessage(' '.repeat(MAX_FRAME_BYTES + 1));
    expect(!big.ok && big.error).toMatch(/exceeds/);
  });

  it('carries the request id of an invalid request so the reply can reference it', () => {
    const r = parseControllerMessage('{"type":"request","id":"r1","method":"start"}');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.ref).toBe('r1');
  });

  it('accepts valid messages both ways', () => {
    expect(parseAgentMessage('{"type":"ping","ts":1}').ok).toBe(true);
    expect(parseAgentMessage('{"type":"response","id":"1","ok":false,"error":{"code":"failed","message":"m"}}').ok).toBe(true);
    expect(parseControllerMessage('{"type":"request","id":"1","method":"list","params":{}}').ok).toBe(true);
  });

  it('checks RPC methods and params', () => {
    const req = (method: string, params: unknown) => ({ type: 'request', id: '1', method, params }) as unknown as RequestMessage;
    expect(checkRequest(req('format', {}))?.code).toBe('unknown_method');
    expect(checkRequest(req('stop', { uid: 'u', timeoutSeconds: -1 }))?.message).toMatch(/^stop: params\/timeoutSeconds must be >= 0/);
    expect(checkRequest(req('kill', { uid: 'u', signal: 'KILL; rm -rf /' }))?.code).toBe('invalid_params');
    expect(checkRequest(req('sendCommand', { uid: 'u', line: 'say hi' }))).toBeUndefined();
  });

  it('players messages: counts and names validated, bounded', () => {
    const msg = (samples: unknown) => parseAgentMessage(JSON.stringify({ type: 'players', samples }));
    expect(msg([{ uid: 'u', time: 1, online: 3, max: 20, names: ['alice'] }, { uid: 'v', time: 1, online: 0, max: 0, error: 'timed out' }]).ok).toBe(true);
    expect(msg([{ uid: 'u', time: 1, online: -1, max: 20 }]).ok).toBe(false);
    expect(msg([{ uid: 'u', time: 1, online: 1 }]).ok).toBe(false);
    expect(msg([{ uid: 'u', time: 1, online: 1, max: 2, names: Array(101).fill('x') }]).ok).toBe(false);
    expect(msg([{ uid: 'u', time: 1, online: 1, max: 2, names: ['x'.repeat(129)] }]).ok).toBe(false);
  });

  it('ensureDataDir needs the uid and a data dir', () => {
    const req = (params: unknown) => ({ type: 'request', id: '1', method: 'ensureDataDir', params }) as unknown as RequestMessage;
    expect(checkRequest(req({ uid: 'u', dataDir: 'default/mc' }))).toBeUndefined();
    expect(checkRequest(req({ uid: 'u' }))?.code).toBe('invalid_params');
    expect(checkRequest(req({ uid: 'u', dataDir: '' }))?.code).toBe('invalid_params');
  });

  it('compiles every method\'s params schema on first use (validators are lazy) and refuses params that are not an object', () => {
    const req = (method: string, params: unknown) => ({ type: 'request', id: '1', method, params }) as unknown as RequestMessage;
    for (const m of RPC_METHODS) expect(checkRequest(req(m, 'not an object'))?.code, m).toBe('invalid_params');
  });
});
