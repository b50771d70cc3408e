// Discovery and OpenAPI: what kubectl reads before any command (GET /api, /apis, the group-version's
// APIResourceList, /version) and for explain and validation (/openapi/v2, /openapi/v3). Answers are
// plain JSON even when the Accept header asks for aggregated discovery first: clients then fall back
// to the legacy documents, as they do with servers older than 1.26.
import type { Hono } from 'hono';
import type { CrdRegistry, KindInfo } from '../../crds/registry.ts';
import { GROUP, VERSION } from '../../crds/resource.ts';
import { documentHash, openApiV2, openApiV3 } from '../../crds/openapi.ts';
import { GANTRY_VERSION } from '../../lib/version.ts';
import type { KubeDeps, KubeEnv } from './context.ts';
import { encodeOpenApiV2 } from './openapi-protobuf.ts';
import { wantsProtobufOpenApi } from './negotiate.ts';
import { CORE_RESOURCES } from './core.ts';
import { COORDINATION_GROUP, COORDINATION_VERSION, LEASE_RESOURCES } from './leases.ts';

/** The Kubernetes API level whose custom-resource behaviour the dialect follows. */
export const KUBERNETES_LEVEL = { major: '1', minor: '32' };

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

function groupResources(registry: CrdRegistry): unknown[] {
  return registry.kinds().flatMap((k: KindInfo) => {
    const main = {
      name: k.plural,
      singularName: k.singular,
      namespaced: k.scope === 'Namespaced',
      kind: k.kind,
      verbs: VERBS,
      ...(k.shortNames.length ? { shortNames: k.shortNames } : {}),
      ...(k.categories.length ? { categories: k.categories } : {}),
    };
    return k.hasStatusSubresource ? [main, { name: `${k.plural}/status`, singularName: '', namespaced: k.scope === 'Namespaced', kind: k.kind, verbs: ['get', 'patch', 'update'] }] : [main];
  });
}

export function mountDiscovery(app: Hono<KubeEnv>, deps: KubeDeps, served: { leases: boolean } = { leases: false }): void {
  const { registry } = deps.svc;
  const groupVersion = `${GROUP}/${VERSION}`;
  const group = { name: GROUP, versions: [{ groupVersion, version: VERSION }], preferredVersion: { groupVersion, version: VERSION } };
  const coordinationVersion = `${COORDINATION_GROUP}/${COORDINATION_VERSION}`;
  const coordination = { name: COORDINATION_GROUP, versions: [{ groupVersion: coordinationVersion, version: COORDINATION_VERSION }], preferredVersion: { groupVersion: coordinationVersion, version: COORDINATION_VERSION } };
  if (served.leases) {
    app.get(`/apis/${COORDINATION_GROUP}`, (c) => c.json({ kind: 'APIGroup', apiVersion: 'v1', ...coordination }));
    app.get(`/apis/${coordinationVersion}`, (c) => c.json({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion: coordinationVersion, resources: LEASE_RESOURCES }));
  }

  app.get('/version', (c) =>
    c.json({
      major: KUBERNETES_LEVEL.major,
      minor: KUBERNETES_LEVEL.minor,
      gitVersion: `v${KUBERNETES_LEVEL.major}.${KUBERNETES_LEVEL.minor}.0+gantry.${GANTRY_VERSION}`,
      gitCommit: '',
      gitTreeState: 'clean',
      buildDate: '',
      goVersion: `node${process.versions.node}`,
      compiler: 'gantry',
      platform: `${process.platform}/${process.arch}`,
    }),
  );
  app.get('/api', (c) => {
    const host = c.req.header('host') ?? '';
    return c.json({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }] });
  });
  app.get('/api/v1', (c) => c.json({ kind: 'APIResourceList', groupVersion: 'v1', resources: CORE_RESOURCES }));
  app.get('/apis', (c) => c.json({ kind: 'APIGroupList', apiVersion: 'v1', groups: served.leases ? [group, coordination] : [group] }));
  app.get(`/apis/${GROUP}`, (c) => c.json({ kind: 'APIGroup', apiVersion: 'v1', ...group }));
  const resources = groupResources(registry);
  app.get(`/apis/${GROUP}/${VERSION}`, (c) => c.json({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources }));

  // The documents never change while the process runs (the CRDs are loaded once): built once.
  const v3 = openApiV3(registry);
  const v3Hash = documentHash(v3);
  const v2 = openApiV2(registry);
  const v2Proto = encodeOpenApiV2(v2);
  app.get('/openapi/v2', (c) => {
    c.header('Cache-Control', 'no-cache, private');
    // Go's mime parser refuses the '@' of the media type asked for, so (like kube-openapi) the bytes
    // go out as octet-stream; client-go decodes whatever answers this Accept as protobuf.
    if (wantsProtobufOpenApi(c)) return c.body(v2Proto as Uint8Array<ArrayBuffer>, 200, { 'Content-Type': 'application/octet-stream' });
    return c.json(v2);
  });
  app.get('/openapi/v3', (c) => c.json({ paths: { [`apis/${GROUP}/${VERSION}`]: { serverRelativeURL: `${deps.base}/openapi/v3/apis/${GROUP}/${VERSION}?hash=${v3Hash}` } } }));
  app.get(`/openapi/v3/apis/${GROUP}/${VERSION}`, (c) => {
    // A request naming the current hash may be cached for good; anything else must revalidate.
    c.header('Cache-Control', c.req.query('hash') === v3Hash ? 'public, immutable' : 'no-cache, private');
    c.header('Etag', `"${v3Hash}"`);
    return c.json(v3);
  });
}
