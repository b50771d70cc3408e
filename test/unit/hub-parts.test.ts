// The pure and small parts of the agent hub and node enrolment.
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { closeReason } from '../../controller/hub/close-codes.ts';
import { NodeStatusWriter, rfc3339, statusFromHealth } from '../../controller/hub/node-status.ts';
import { ConsoleRing } from '../../controller/hub/observed.ts';
import { bearerToken, requestPath } from '../../controller/hub/upgrade.ts';
import { hashSecret, newSecret, sameHash } from '../../controller/nodes/secrets.ts';
import type { ResourceStore } from '../../controller/store/types.ts';
import { createLogger } from '../../lib/log.ts';
import type { HealthReport } from '../../agent/runtime/health.ts';

const line = (l: string) => ({ stream: 'stdout' as const, line: l, ts: 0 });

describe('ConsoleRing', () => {
  it('keeps the newest lines up to its capacity, oldest first', () => {
    const r = new ConsoleRing(3);
    expect(r.lines()).toEqual([]);
    r.push([line('a'), line('b')]);
    expect(r.lines().map((l) => l.line)).toEqual(['a', 'b']);
    r.push([line('c'), line('d')]);
    expect(r.lines().map((l) => l.line)).toEqual(['b', 'c', 'd']);
    expect(r.lines(2).map((l) => l.line)).toEqual(['c', 'd']);
    expect(r.lines(10).map((l) => l.line)).toEqual(['b', 'c', 'd']);
    r.push(['e', 'f', 'g', 'h', 'i'].map(line));
    expect(r.lines().map((l) => l.line)).toEqual(['g', 'h', 'i']);
    expect(r.total).toBe(9);
    expect(r.length).toBe(3);
    expect(() => new ConsoleRing(0)).toThrow(/positive integer/);
  });
});

describe('statusFromHealth', () => {
  it('maps a health report to GameNode status fields, within the schema limits', () => {
    const h = {
      time: 't',
      agentVersion: '1',
      hostname: 'h'.repeat(300),
      docker: { version: '20.10.24', apiVersion: '1.41', kernelVersion: '6.1.0', operatingSystem: 'Debian GNU/Linux 12' },
      os: { platform: 'linux', release: '6.1.0-r', arch: 'x64' },
    } as unknown as HealthReport;
    expect(statusFromHealth(h)).toEqual({
      dockerVersion: '20.10.24',
      osInfo: { os: 'Debian GNU/Linux 12', kernelVersion: '6.1.0', architecture: 'x64', hostname: 'h'.repeat(253) },
    });
  });

  it('copes with a report that carries only the required fields', () => {
    expect(statusFromHealth({ time: 't', agentVersion: '1' } as unknown as HealthReport)).toEqual({});
    expect(statusFromHealth({ time: 't', agentVersion: '1', os: { platform: 'linux', release: '6.1', arch: 'arm64' } } as unknown as HealthReport)).toEqual({
      osInfo: { os: 'linux 6.1', kernelVersion: '6.1', architecture: 'arm64' },
    });
    expect(statusFromHealth(undefined)).toEqual({});
  });
});

describe('upgrade helpers', () => {
  const req = (headers: Record<string, string>, url = '/api/agent/connect?x=1') => ({ headers, url }) as unknown as IncomingMessage;
  it('reads a Bearer credential and the request path', () => {
    expect(bearerToken(req({ authorization: 'Bearer gnc_abc' }))).toBe('gnc_abc');
    expect(bearerToken(req({ authorization: 'bearer   gnc_abc  ' }))).toBe('gnc_abc');
    expect(bearerToken(req({ authorization: 'Basic abc' }))).toBeUndefined();
    expect(bearerToken(req({ authorization: 'Bearer a b' }))).toBeUndefined();
    expect(bearerToken(req({}))).toBeUndefined();
    expect(requestPath(req({}))).toBe('/api/agent/connect');
  });

  it('keeps close reasons within 123 bytes', () => {
    expect(closeReason('short')).toBe('short');
    const long = closeReason('é'.repeat(200));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(123);
    expect(long.endsWith('...')).toBe(true);
  });
});

describe('secrets', () => {
  it('are prefixed, random, and compared by hash', () => {
    const a = newSecret('gdt_');
    const b = newSecret('gdt_');
    expect(a).toMatch(/^gdt_[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(hashSecret(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(sameHash(hashSecret(a), hashSecret(a))).toBe(true);
    expect(sameHash(hashSecret(a), hashSecret(b))).toBe(false);
    expect(sameHash('', '')).toBe(false);
    expect(sameHash('abcd', hashSecret(a))).toBe(false);
  });
});

describe('NodeStatusWriter', () => {
  afterEach(() => vi.useRealTimers());

  function fakeStore(uid = 'u1') {
    const patches: Record<string, unknown>[] = [];
    const store = {
      get: async () => ({ metadata: { name: 'n', uid } }),
      patchStatus: async (_k: string, _ns: unknown, _n: string, p: Record<string, unknown>) => {
        patches.push(p);
        return {};
      },
    } as unknown as ResourceStore;
    return { store, patches };
  }

  it('writes Online at once, heartbeats at most once per interval (trailing), Offline at once', async () => {
    vi.useFakeTimers({ now: Date.parse('2026-01-01T00:00:00Z') });
    const { store, patches } = fakeStore();
    const w = new NodeStatusWriter(store, createLogger({}, 'error'), 10_000, () => Date.now());
    const t0 = Date.now();
    w.online('n', 'u1', '1.0', undefined, t0);
    await w.flush();
    expect(patches).toEqual([{ phase: 'Online', lastHeartbeatTime: rfc3339(t0), agentVersion: '1.0' }]);

    for (let i = 1; i <= 9; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      w.heartbeat('n', 'u1', Date.now());
    }
    await w.flush();
    expect(patches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    await w.flush();
    expect(patches[1]).toEqual({ lastHeartbeatTime: rfc3339(t0 + 9000) });

    // Heartbeats of another uid (a re-created node) are ignored.
    w.heartbeat('n', 'other', Date.now());
    w.offline('n', 'u1', t0 + 9500);
    await w.flush();
    expect(patches[2]).toEqual({ phase: 'Offline', lastHeartbeatTime: rfc3339(t0 + 9500) });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(patches).toHaveLength(3);
  });

  it('does not write the status of a node that was re-created under the same name', async () => {
    const { store, patches } = fakeStore('someone-else');
    const w = new NodeStatusWriter(store, createLogger({}, 'error'));
    w.online('n', 'u1', '1.0', undefined, Date.now());
    await w.flush();
    expect(patches).toEqual([]);
  });
});
