// manifests/deploy/ read by the real kubectl (each binary of KUBECTLS) and checked for what running it
// needs. `kubectl apply --dry-run=client` cannot run here: it maps every kind through the server's
// discovery, and there is no cluster (Gantry's /k8s serves only its own kinds and Leases). `kubectl
// label --local` parses and decodes every object with no server, so that is what reads them; the
// rest — least-privilege RBAC, probes, replicas, the Secret's keys, the CRDs being crds/ — is checked
// on what it printed. The controller's argument parser accepts the Deployment's args as written.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CrdRegistry } from '../../crds/registry.ts';
import { KUBECTLS } from '../helpers/kube.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DEPLOY = path.join(ROOT, 'manifests/deploy');
const run = promisify(execFile);

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any };

async function readWithKubectl(bin: string): Promise<Obj[]> {
  const home = await mkdtemp(path.join(tmpdir(), 'gantry-deploy-kubectl-'));
  try {
    const { stdout } = await run(bin, ['label', '--local', '-f', DEPLOY, 'gantry.dev/checked=true', '-o', 'json'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: '/dev/null' }, maxBuffer: 32 * 1024 * 1024 });
    return jsonStream(stdout).flatMap((d) => ('items' in d ? (d.items as Obj[]) : [d]));
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** kubectl prints one JSON document per object, one after the other. */
function jsonStream(text: string): Obj[] {
  const out: Obj[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{') {
      if (depth++ === 0) start = i;
    } else if (ch === '}' && --depth === 0) out.push(JSON.parse(text.slice(start, i + 1)) as Obj);
  }
  return out;
}

describe.each(KUBECTLS)('manifests/deploy read by %s', (bin) => {
  it('holds every object Gantry needs, least privilege, probes on the lease, CRDs as in crds/', async () => {
    const objs = await readWithKubectl(bin);
    const of = (kind: string) => objs.filter((o) => o.kind === kind);
    const one = (kind: string) => {
      const found = of(kind);
      expect(found, kind).toHaveLength(1);
      return found[0]!;
    };
    const registry = await CrdRegistry.load();

    expect(one('Namespace').metadata.name).toBe('gantry-system');
    // The CRDs are crds/, unchanged (links, so there is one schema source).
    const crds = of('CustomResourceDefinition');
    expect(crds.map((c) => c.spec.names.kind).sort()).toEqual(registry.kinds().map((k) => k.kind).sort());
    for (const file of (await readdir(path.join(ROOT, 'crds'))).filter((f) => f.endsWith('.yaml'))) {
      const source = parseAllDocuments(await readFile(path.join(ROOT, 'crds', file), 'utf8')).map((d) => d.toJS() as Obj);
      for (const doc of source) {
        const printed = crds.find((c) => c.metadata.name === doc.metadata.name)!;
        const { labels: _l, ...meta } = printed.metadata;
        expect({ ...printed, metadata: meta }).toEqual(doc);
      }
    }

    // RBAC: exactly Gantry's kinds and the status of those with a status subresource, cluster-wide;
    // of the core group only recording events; the Lease in its own namespace; no wildcard anywhere.
    const sa = one('ServiceAccount');
    const role = one('ClusterRole');
    const all = role.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    for (const r of all) expect([...r.apiGroups, ...r.resources, ...r.verbs]).not.toContain('*');
    const core = all.filter((r) => r.apiGroups.includes(''));
    expect(core).toEqual([{ apiGroups: [''], resources: ['events'], verbs: ['create', 'patch', 'get', 'list'] }]);
    const rules = all.filter((r) => !r.apiGroups.includes(''));
    for (const r of rules) expect(r.apiGroups).toEqual(['gantry.dev']);
    const plurals = registry.kinds().map((k) => k.plural).sort();
    const withStatus = registry.kinds().filter((k) => k.hasStatusSubresource).map((k) => `${k.plural}/status`).sort();
    expect(rules.flatMap((r) => r.resources.filter((x) => !x.includes('/'))).sort()).toEqual(plurals);
    expect(rules.flatMap((r) => r.resources.filter((x) => x.includes('/'))).sort()).toEqual(withStatus);
    expect(rules.find((r) => r.resources.includes('gameservers/status'))!.verbs.sort()).toEqual(['get', 'patch', 'update']);
    const crb = one('ClusterRoleBinding');
    expect(crb.roleRef).toMatchObject({ kind: 'ClusterRole', name: role.metadata.name });
    expect(crb.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'gantry-system' }]);
    const leaseRole = one('Role');
    expect(leaseRole.metadata.namespace).toBe('gantry-system');
    expect(leaseRole.rules).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
    expect(one('RoleBinding').roleRef.name).toBe(leaseRole.metadata.name);

    // The Deployment: 2 replicas as this ServiceAccount, readiness = holds the lease, liveness.
    const deploy = one('Deployment');
    expect(deploy.spec.replicas).toBe(2);
    const pod = deploy.spec.template.spec;
    expect(pod.serviceAccountName).toBe(sa.metadata.name);
    const c = pod.containers[0];
    expect(c.args[0]).toBe('controller');
    const ports = Object.fromEntries((c.ports as { name: string; containerPort: number }[]).map((p) => [p.name, p.containerPort]));
    expect(c.args).toContain(`--probe-port=${ports.probes}`);
    expect(c.args).toContain(`--port=${ports.http}`);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'probes' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'probes' });
    const env = Object.fromEntries((c.env as { name: string; valueFrom: any }[]).map((e) => [e.name, e.valueFrom]));
    const secret = one('Secret');
    for (const [name, key] of [['GANTRY_DATABASE_URL', 'database-url'], ['GANTRY_SECRET', 'token-secret'], ['GANTRY_DATABASE_SECRETS_KEY', 'database-secrets-key'], ['GANTRY_ADMIN_PASSWORD', 'admin-password']]) {
      expect(env[name!].secretKeyRef).toMatchObject({ name: secret.metadata.name, key });
      expect(Object.keys(secret.stringData)).toContain(key);
    }
    expect(env.POD_NAME.fieldRef.fieldPath).toBe('metadata.name');
    expect(env.POD_NAMESPACE.fieldRef.fieldPath).toBe('metadata.namespace');
    expect(deploy.spec.selector.matchLabels).toEqual(Object.fromEntries(Object.entries(deploy.spec.template.metadata.labels as Record<string, string>).filter(([k]) => k in deploy.spec.selector.matchLabels)));

    // The Service routes to these pods (ready ones only: the leader).
    const svc = one('Service');
    for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) expect(deploy.spec.template.metadata.labels[k]).toBe(v);
    expect((svc.spec.ports as { targetPort: string }[]).map((p) => p.targetPort).every((t) => t in ports)).toBe(true);
    expect(svc.spec.publishNotReadyAddresses ?? false).toBe(false);

    // Every namespaced object is in gantry-system.
    for (const o of objs.filter((x) => !['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'].includes(x.kind))) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('gantry-system');
  });
});

describe('the Deployment\'s arguments', () => {
  it('are accepted by gantry controller (which then asks for a cluster it can reach)', async () => {
    const text = await readFile(path.join(DEPLOY, '40-deployment.yaml'), 'utf8');
    const deploy = parseAllDocuments(text)[0]!.toJS() as Obj;
    const args = deploy.spec.template.spec.containers[0].args as string[];
    const dir = await mkdtemp(path.join(tmpdir(), 'gantry-deploy-args-'));
    const kubeconfig = path.join(dir, 'config');
    await writeFile(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    const err = await run(path.join(ROOT, 'bin/gantry'), [...args, '--kubeconfig', kubeconfig], { env: { ...process.env, GANTRY_LOG_LEVEL: 'warn' } }).then(() => undefined, (e: { code: number; stderr: string }) => e);
    await rm(dir, { recursive: true, force: true });
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/names no current cluster/);
    expect(err?.stderr).not.toMatch(/Unknown option|unexpected argument/i);
  });
});
