// Deployment tokens: a secret that lets a machine join as a node, so only node.deploy may issue one.
import { AGENT_ENROLL_PATH } from '../../agent/protocol.ts';
import { parseDuration } from '../../crds/duration.ts';
import { DEFAULT_TOKEN_TTL_MS, MAX_TOKEN_TTL_MS } from '../../controller/nodes/enrollment.ts';
import { ApiError, badRequest } from '../http/errors.ts';
import { ok, route, type RouteSpec } from '../http/route.ts';
import type { ApiServices } from '../http/services.ts';
import type { GameNode, GameServer } from '../../crds/types.ts';
import { newNode, nodeBodySchema, nodeSpecPatch, toCatalystNode } from '../catalyst/nodes.ts';

export const MIN_TOKEN_TTL_MS = 60_000;

/** The body of `POST /api/nodes/:id/deployment-token` (all optional). */
export interface DeploymentTokenRequest {
  /** Duration string: 30m, 1h, 7d. */
  ttl?: string;
  ttlSeconds?: number;
}

export interface DeploymentTokenResponse {
  success: true;
  data: {
    /** The one-time token; shown once. */
    deploymentToken: string;
    /** RFC 3339. */
    expiresAt: string;
    nodeName: string;
    nodeUid: string;
    /** The URL agents dial (the request's origin unless Gantry was told its public URL). */
    panelUrl: string;
    enrollUrl: string;
    /** What to run on the node. */
    command: string;
  };
}

function ttlFrom(body: unknown, query: string | undefined): number | string {
  let ttlMs = DEFAULT_TOKEN_TTL_MS;
  const b = (body ?? {}) as Record<string, unknown>;
  if (body !== undefined && (body === null || typeof body !== 'object' || Array.isArray(body))) return 'request body must be a JSON object {ttl?: "1h"} or {ttlSeconds?: 3600}';
  const raw = query ?? b.ttl;
  try {
    if (raw !== undefined) {
      if (typeof raw !== 'string') return 'ttl must be a duration string such as "30m", "1h" or "7d"';
      ttlMs = parseDuration(raw);
    } else if (b.ttlSeconds !== undefined) {
      if (typeof b.ttlSeconds !== 'number' || !Number.isInteger(b.ttlSeconds)) return 'ttlSeconds must be an integer';
      ttlMs = b.ttlSeconds * 1000;
    }
  } catch (err) {
    return (err as Error).message;
  }
  if (ttlMs < MIN_TOKEN_TTL_MS || ttlMs > MAX_TOKEN_TTL_MS) return `ttl must be between 1m and ${MAX_TOKEN_TTL_MS / 86_400_000}d`;
  return ttlMs;
}

export const deploymentTokenRoute = route({
  method: 'POST',
  path: '/api/nodes/:nodeId/deployment-token',
  summary: 'Issue a one-time deployment token for a node (rotates its credential)',
  tag: 'nodes',
  access: { permission: 'node.deploy' },
  body: { type: 'object', properties: { ttl: { type: 'string', maxLength: 32 }, ttlSeconds: { type: 'integer' } }, additionalProperties: false },
  query: { ttl: { type: 'string', maxLength: 32 } },
  handler: async ({ c, svc, body, query, params, audit }) => {
    if (!svc.nodes) throw new ApiError(404, 'node enrolment is not available on this server', 'not_available');
    const name = params.nodeId!;
    audit.resourceType = 'node';
    audit.resourceId = name;
    const ttl = ttlFrom(body, query.ttl as string | undefined);
    if (typeof ttl === 'string') throw badRequest(ttl);
    const issued = await svc.nodes.issueDeploymentToken(name, ttl);
    const panelUrl = (svc.publicUrl ?? new URL(c.req.url).origin).replace(/\/+$/, '');
    const res: DeploymentTokenResponse = {
      success: true,
      data: {
        deploymentToken: issued.token,
        expiresAt: issued.expiresAt,
        nodeName: issued.nodeName,
        nodeUid: issued.nodeUid,
        panelUrl,
        enrollUrl: panelUrl + AGENT_ENROLL_PATH,
        command: `gantry agent --panel ${panelUrl} --token ${issued.token}`,
      },
    };
    c.header('Cache-Control', 'no-store');
    return c.json(res, 200);
  },
});

// ---- Nodes (Catalyst "Nodes") ↔ GameNode ------------------------------------------------------------

const loadNode = (svc: ApiServices, id: string): Promise<GameNode> => svc.ops.nodes.require(id);

/** Servers in every namespace: a node holds the ones kubectl or manifests put there too. */
const allServers = async (svc: ApiServices) => (await svc.store.list<GameServer>('GameServer')).items;

export const nodeRoutes: readonly RouteSpec[] = [
  route({
    method: 'GET',
    path: '/api/nodes',
    summary: 'List nodes with the servers on each',
    tag: 'nodes',
    access: { permission: 'node.read' },
    handler: async ({ c, svc }) => {
      const [nodes, servers] = await Promise.all([svc.store.list<GameNode>('GameNode'), allServers(svc)]);
      return ok(c, nodes.items.map((n) => toCatalystNode(n, servers)));
    },
  }),

  route({
    method: 'GET',
    path: '/api/nodes/:nodeId',
    summary: 'Get one node with its servers',
    tag: 'nodes',
    access: { permission: 'node.read' },
    handler: async ({ c, svc, params }) => ok(c, toCatalystNode(await loadNode(svc, params.nodeId!), await allServers(svc))),
  }),

  route({
    method: 'POST',
    path: '/api/nodes',
    summary: 'Create a node. Instead of Catalyst\'s node secret the answer carries a one-time deployment token (1 h) that the agent exchanges for its credential',
    tag: 'nodes',
    access: { permission: 'node.create' },
    body: nodeBodySchema(true),
    responses: { 201: 'Created (with deploymentToken)', 409: 'A node with that id exists' },
    handler: async ({ c, svc, body, audit }) => {
      const node = newNode(body);
      audit.resourceType = 'node';
      audit.resourceId = node.metadata.name;
      const created = await svc.ops.nodes.create(node);
      const data: Record<string, unknown> = toCatalystNode(created);
      if (svc.nodes) {
        const issued = await svc.nodes.issueDeploymentToken(created.metadata.name, DEFAULT_TOKEN_TTL_MS);
        const panelUrl = (svc.publicUrl ?? new URL(c.req.url).origin).replace(/\/+$/, '');
        Object.assign(data, { deploymentToken: issued.token, expiresAt: issued.expiresAt, enrollUrl: panelUrl + AGENT_ENROLL_PATH, command: `gantry agent --panel ${panelUrl} --token ${issued.token}` });
        c.header('Cache-Control', 'no-store');
      }
      return ok(c, data, 201);
    },
  }),

  route({
    method: 'PUT',
    path: '/api/nodes/:nodeId',
    summary: 'Update a node (fields left out are kept)',
    tag: 'nodes',
    access: { permission: 'node.update' },
    body: nodeBodySchema(false),
    handler: async ({ c, svc, body, params, audit }) => {
      audit.resourceType = 'node';
      audit.resourceId = params.nodeId;
      const updated = await svc.ops.nodes.update(params.nodeId!, nodeSpecPatch(body));
      return ok(c, toCatalystNode(updated, await allServers(svc)));
    },
  }),

  route({
    method: 'DELETE',
    path: '/api/nodes/:nodeId',
    summary: 'Delete a node that holds no servers (its agent is disconnected and its credential revoked)',
    tag: 'nodes',
    access: { permission: 'node.delete' },
    responses: { 400: 'Cannot delete node with active servers' },
    handler: async ({ c, svc, params, audit }) => {
      audit.resourceType = 'node';
      audit.resourceId = params.nodeId;
      await svc.ops.nodes.delete(await loadNode(svc, params.nodeId!));
      return c.json({ success: true, message: 'Node deleted' }, 200);
    },
  }),
];
