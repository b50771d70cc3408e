// Garbage at every path and verb of the Kubernetes dialect: never a 5xx, every refusal a Status body,
// and nothing stored that should not be.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiApp, signInAdmin, type ApiApp } from '../helpers/api.ts';
import { openTestEnv } from '../helpers/env.ts';
import { LeaseStore } from '../../api/kube/lease-store.ts';

const G = '/k8s/apis/gantry.dev/v1alpha1';

describe('Kubernetes dialect under garbage', () => {
  let a: ApiApp;
  let auth: Record<string, string>;
  beforeAll(async () => {
    const env = await openTestEnv();
    // Leases served too (what `gantry up` does), so their routes get the same garbage.
    a = await openApiApp({ env, app: { kube: { leases: await LeaseStore.open(env.db) } } });
    auth = (await signInAdmin(a.svc)).headers;
    await a.env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'kube-g', namespace: 'default' }, spec: { templateRef: 'testgame' } });
  });
  afterAll(() => a.env.close());

  it('answers every combination with a 2xx or a Status, never a 5xx', async () => {
    const paths: string[] = ['/k8s', '/k8s/', '/k8s/api', '/k8s/api/v1', '/k8s/api/v2', '/k8s/apis', '/k8s/apis/gantry.dev', '/k8s/apis/other.io/v1', '/k8s/openapi/v2', '/k8s/openapi/v3', '/k8s/openapi/v3/apis/x/y', '/k8s/endpoint'];
    for (const info of a.env.registry.kinds()) {
      const base = info.scope === 'Namespaced' ? `${G}/namespaces/default/${info.plural}` : `${G}/${info.plural}`;
      paths.push(base, `${base}/kube-g`, `${base}/kube-g/status`, `${base}/kube-g/scale`, `${base}/..%2F..%2Fetc`, `${G}/${info.plural}/kube-g`);
    }
    const L = '/k8s/apis/coordination.k8s.io/v1';
    paths.push(`${L}/leases`, `${L}/namespaces/default/leases`, `${L}/namespaces/default/leases/kube-g`, `${L}/namespaces/Bad%20NS/leases/x`, `${L}/namespaces/default/leases/${'y'.repeat(300)}`, '/k8s/apis/coordination.k8s.io', L);
    paths.push('/k8s/api/v1/namespaces/default/events', '/k8s/api/v1/namespaces/default/events/kube-g.1');
    paths.push(`${G}/namespaces/%00/gameservers`, `${G}/namespaces/default/gameservers/${'x'.repeat(300)}`, '/k8s/api/v1/namespaces/default/events/x', '/k8s/api/v1/namespaces/%2e%2e');
    const bodies: (string | undefined)[] = [undefined, '', 'null', '[]', '[1,2]', '"str"', '42', '{', '{"kind":', '{"__proto__":{"polluted":1}}', '{"metadata":[]}', '{"metadata":{"name":5}}',
      '{"apiVersion":"gantry.dev/v1alpha1","kind":"GameServer","metadata":{"name":"kube-g2"},"spec":{"templateRef":"testgame","state":{"$ne":1}}}',
      '[{"op":"move","from":"/spec","path":"/spec/x"}]', '[{"op":"nonsense"}]', '[{"op":"add","path":"/constructor/prototype/x","value":1}]', `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`];
    const types = ['application/json', 'application/merge-patch+json', 'application/json-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml', 'application/yaml', 'text/plain'];
    const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
    const queries = ['', '?watch=1&resourceVersion=abc', '?limit=-5', '?limit=1&continue=garbage', '?fieldSelector=%3D%3D', '?labelSelector=!!', '?dryRun=All', '?dryRun=x', '?timeoutSeconds=-1&watch=true', '?includeObject=Everything'];
    let n = 0;
    for (const path of paths) {
      for (const method of methods) {
        for (const body of method === 'GET' ? [undefined] : bodies) {
          for (const type of method === 'GET' || method === 'DELETE' ? ['application/json'] : types) {
            const query = queries[n++ % queries.length]!;
            const ctrl = new AbortController();
            const res = await a.app.request(path + query, { method, headers: { ...auth, 'content-type': type, accept: n % 3 ? 'application/json' : 'application/json;as=Table;v=v1;g=meta.k8s.io' }, body, signal: ctrl.signal });
            const where = `${method} ${path}${query} (${type}) ${body?.slice(0, 40) ?? ''}`;
            expect(res.status, where).toBeLessThan(500);
            if (query.includes('watch') && res.status === 200) {
              ctrl.abort();
              continue;
            }
            const text = await res.text();
            if (res.status >= 400) expect(JSON.parse(text), where).toMatchObject({ kind: 'Status', status: 'Failure', code: res.status });
          }
        }
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const names = (await a.env.store.list('GameServer')).items.map((i) => i.metadata.name);
    expect(names.every((x) => x === 'kube-g' || x === 'kube-g2')).toBe(true);
  }, 300_000);
});
