// What node agents call over plain HTTP: enrolment (a one-time deployment token → a node credential).
// The agent's WebSocket (AGENT_CONNECT_PATH) is not a route: it is an HTTP upgrade, handled by the
// agent hub before Hono sees the request (bin/commands/up.ts wires it).
//
// Errors use Catalyst's shape `{error, statusCode, message}` (plus `reason`, a machine-readable code
// the agent can act on: unknown_token, token_expired, token_used, token_revoked, node_gone).
import type { Context } from 'hono';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AGENT_ENROLL_PATH, type EnrollRequest } from '../../agent/protocol.ts';
import { EnrollmentError, type NodeEnrollment } from '../../controller/nodes/enrollment.ts';
import type { Logger } from '../../lib/log.ts';
import { catalystError } from '../http/errors.ts';

export { catalystError };

/** The peer's address, when the app runs under @hono/node-server (absent in app.request() tests). */
export function remoteAddress(c: Context): string | undefined {
  return (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress;
}

const MAX_ENROLL_BODY = 16 * 1024;

function parseEnrollRequest(text: string): EnrollRequest | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return `request body is not valid JSON: ${(e as Error).message}`;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'request body must be a JSON object {token, agentVersion, hostname?}';
  const b = v as Record<string, unknown>;
  if (typeof b.token !== 'string' || b.token === '') return 'token must be a non-empty string (the deployment token from `gantry node token NAME`)';
  if (typeof b.agentVersion !== 'string' || b.agentVersion === '' || b.agentVersion.length > 64) return 'agentVersion must be a string of 1 to 64 characters';
  if (b.hostname !== undefined && (typeof b.hostname !== 'string' || b.hostname.length > 253)) return 'hostname must be a string of at most 253 characters';
  return { token: b.token, agentVersion: b.agentVersion, hostname: b.hostname as string | undefined };
}

export function agentRoutes({ nodes, log }: { nodes: NodeEnrollment; log: Logger }): Hono {
  const app = new Hono();
  app.post(
    AGENT_ENROLL_PATH,
    bodyLimit({ maxSize: MAX_ENROLL_BODY, onError: (c) => catalystError(c, 413, `request body is larger than ${MAX_ENROLL_BODY} bytes`) }),
    async (c) => {
      const req = parseEnrollRequest(await c.req.text());
      if (typeof req === 'string') return catalystError(c, 400, req, 'bad_request');
      try {
        const res = await nodes.enroll(req.token, { agentVersion: req.agentVersion, hostname: req.hostname });
        c.header('Cache-Control', 'no-store');
        return c.json(res, 200);
      } catch (err) {
        if (err instanceof EnrollmentError) {
          log.warn('enrolment refused', { reason: err.code, message: err.message, remote: remoteAddress(c), hostname: req.hostname });
          return catalystError(c, err.httpStatus, err.message, err.code);
        }
        log.error('enrolment failed', { err });
        return catalystError(c, 500, 'internal error during enrolment');
      }
    },
  );
  return app;
}
