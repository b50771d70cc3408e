// Node management endpoints with Catalyst's names. For now: deployment tokens.
//
// AUTH: there is no authentication or RBAC in Gantry yet. This route hands out a secret that lets a
// machine join the cluster, so the auth issue must guard it (Catalyst: admin permission) — until then
// bind `gantry up` to a trusted interface.
import { Hono } from 'hono';
import { AGENT_ENROLL_PATH } from '../../agent/protocol.ts';
import { parseDuration } from '../../crds/duration.ts';
import { DEFAULT_TOKEN_TTL_MS, MAX_TOKEN_TTL_MS, type NodeEnrollment } from '../../controller/nodes/enrollment.ts';
import { isStoreError } from '../../controller/store/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { catalystError } from './agent.ts';

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

export function nodeRoutes({ nodes, log, publicUrl }: { nodes: NodeEnrollment; log: Logger; publicUrl?: string }): Hono {
  const app = new Hono();
  // AUTH: open until the auth issue lands (see the top of this file).
  app.post('/api/nodes/:id/deployment-token', async (c) => {
    const name = c.req.param('id');
    const text = await c.req.text();
    let body: unknown;
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text);
      } catch (e) {
        return catalystError(c, 400, `request body is not valid JSON: ${(e as Error).message}`, 'bad_request');
      }
    }
    const ttl = ttlFrom(body, c.req.query('ttl'));
    if (typeof ttl === 'string') return catalystError(c, 400, ttl, 'bad_request');
    try {
      const issued = await nodes.issueDeploymentToken(name, ttl);
      const panelUrl = (publicUrl ?? new URL(c.req.url).origin).replace(/\/+$/, '');
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
    } catch (err) {
      if (isStoreError(err)) return catalystError(c, err.code, err.message, err.reason);
      log.error('cannot issue a deployment token', { node: name, err });
      return catalystError(c, 500, 'internal error while issuing the deployment token');
    }
  });
  return app;
}
