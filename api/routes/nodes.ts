// Deployment tokens: a secret that lets a machine join as a node, so only node.deploy may issue one.
import { AGENT_ENROLL_PATH } from '../../agent/protocol.ts';
import { parseDuration } from '../../crds/duration.ts';
import { DEFAULT_TOKEN_TTL_MS, MAX_TOKEN_TTL_MS } from '../../controller/nodes/enrollment.ts';
import { ApiError, badRequest } from '../http/errors.ts';
import { route } from '../http/route.ts';

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
