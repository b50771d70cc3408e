// Throws generated garbage at every declared route of every facade (bodies, query strings, path
// parameters, headers) as an administrator and as a server owner, and checks that nothing answers 5xx
// and every refusal is the facade's error body (its dialect's errorSchema; a statusCode field, where
// the dialect has one, equal to the status). Deterministic: a seeded generator, so a failure reproduces.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.ts';
import type { ApiServices } from '../../api/http/services.ts';
import { DatabaseService } from '../../controller/databases/service.ts';
import { Ajv } from 'ajv';
import { FACADES } from '../../api/facades.ts';
import type { GameServer } from '../../crds/types.ts';
import { credentialFor, routePath, withQuery } from '../helpers/facades.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { apiServicesFor, signIn, signInAdmin } from '../helpers/api.ts';

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NASTY_STRINGS = ['', ' ', '../../etc/passwd', '..%2F..%2F', '/', '\u0000', 'a'.repeat(5000), '💥', '<script>', "' OR 1=1 --", '-1', '1e309', 'NaN', 'true', 'null', '{}', '[]', '%', '\\', 'Ω≈ç√', '\ud800'];

function garbageValue(r: () => number, depth = 0): unknown {
  const pick = Math.floor(r() * (depth > 2 ? 7 : 10));
  switch (pick) {
    case 0: return null;
    case 1: return r() < 0.5;
    case 2: return Math.floor(r() * 2 ** 40) * (r() < 0.5 ? -1 : 1);
    case 3: return r() * 1e6;
    case 4: return NASTY_STRINGS[Math.floor(r() * NASTY_STRINGS.length)];
    case 5: return Math.floor(r() * 70000);
    case 6: return 'x'.repeat(Math.floor(r() * 40));
    case 7: return Array.from({ length: Math.floor(r() * 4) }, () => garbageValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < Math.floor(r() * 5); i++) o[String(garbageValue(r, 3)).slice(0, 20)] = garbageValue(r, depth + 1);
      return o;
    }
  }
}

/** A body shaped like the route's schema but with wrong or nasty values in its fields. */
function schemaShapedGarbage(schema: Record<string, unknown> | undefined, r: () => number): unknown {
  const props = (schema?.properties ?? {}) as Record<string, unknown>;
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(props)) if (r() < 0.8) o[k] = garbageValue(r, 1);
  if (r() < 0.3) o[`unknown_${Math.floor(r() * 100)}`] = garbageValue(r);
  return o;
}

describe.each(FACADES.map((f) => [f.name, f] as const))('garbage at every route of facade %s', (_name, facade) => {
  let env: TestEnv;
  let svc: ApiServices;
  let app: ReturnType<typeof createApp>;
  let tokenOf: Record<string, string> = {};
  let fixture: GameServer;
  const isErrorBody = new Ajv({ strict: false }).compile(facade.dialect.errorSchema);

  beforeAll(async () => {
    env = await openTestEnv();
    const databases = await DatabaseService.open({ db: env.db, dataDir: env.dir, log: env.log });
    svc = await apiServicesFor(env, { databases, limits: { authPerMinute: 1_000_000, userPerMinute: 1_000_000, maxBodyBytes: 64 * 1024 } });
    app = createApp({ store: env.store, registry: env.registry, events: env.events, log: env.log, api: svc });
    const admin = await signInAdmin(svc);
    const owner = await signIn(svc, 'owner');
    fixture = await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'fuzz', namespace: 'default' }, spec: { templateRef: 'testgame', owner: owner.userId } });
    tokenOf = { admin: admin.token, owner: owner.token };
  });
  afterAll(() => env.close());

  for (const route of facade.routes) {
    it(`${route.method} ${route.path}`, async () => {
      const r = prng([...`${route.method} ${route.path}`].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7));
      const failures: string[] = [];
      const attempts: { path: string; body?: string; headers?: Record<string, string> }[] = [];
      const serverId = facade.dialect.serverId(fixture);
      const paramValues = ['fuzz', '..', '%2e%2e%2f%2e%2e', 'a'.repeat(300), '%00', '%F0%9F%92%A5', 'fixture'];
      for (let i = 0; i < 24; i++) {
        let path = routePath(facade, route, serverId, '\u0000').replace(/\u0000/g, () => paramValues[Math.floor(r() * paramValues.length)]!);
        if (route.query || r() < 0.3) {
          const names = [...Object.keys(route.query ?? {}), 'unknown'];
          path += '?' + names.map((n) => `${n}=${encodeURIComponent(String(garbageValue(r)).slice(0, 100).replace(/[\ud800-\udfff]/g, '?'))}`).join('&');
        }
        let body: string | undefined;
        if (route.method !== 'GET') {
          const kind = r();
          if (kind < 0.15) body = '{"unterminated": ';
          else if (kind < 0.25) body = JSON.stringify(garbageValue(r));
          else if (kind < 0.3) body = JSON.stringify({ big: 'x'.repeat(70 * 1024) });
          else if (kind < 0.35) body = '\u0000\u0001binary';
          else body = JSON.stringify(schemaShapedGarbage(route.body, r));
        }
        attempts.push({ path, body, headers: r() < 0.1 ? { 'content-type': 'text/plain' } : undefined });
      }
      for (const who of ['admin', 'owner']) {
        for (const a of attempts) {
          const cred = credentialFor(facade, tokenOf[who]);
          const res = await app.request(withQuery(a.path, cred.query), { method: route.method, headers: { 'content-type': 'application/json', ...cred.headers, ...a.headers }, body: a.body });
          const text = await res.text();
          if (res.status >= 500) failures.push(`${who} ${route.method} ${a.path.slice(0, 120)} body=${(a.body ?? '').slice(0, 120)} → ${res.status} ${text.slice(0, 200)}`);
          else if (res.status >= 400) {
            let parsed: { statusCode?: number; message?: string } | undefined;
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = undefined;
            }
            const statusMatches = !parsed || !('statusCode' in parsed) || parsed.statusCode === res.status;
            if (!parsed || !isErrorBody(parsed) || !statusMatches) failures.push(`${who} ${route.method} ${a.path.slice(0, 120)} → ${res.status} without a ${facade.name} error body: ${text.slice(0, 200)}`);
          }
        }
      }
      expect(failures).toEqual([]);
    });
  }
});
