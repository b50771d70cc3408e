// Catalyst's "Transfer Server": request → the operations layer (controller/operations/servers.ts
// transfer: the checks and the spec.nodeName edit) → Catalyst's answer. The document's panel assumes
// shared storage and answers once the node id changed; Gantry moves the data (the transfer
// controller), so the answer comes at once ("initiated", the server transferring) or, with
// `?wait=true`, once the data is on the target ("transferred successfully") or the transfer failed
// (reached: false, the Transferred condition's message).
import type { GameServer } from '../../../crds/types.ts';
import { dataNode } from '../../../crds/placement.ts';
import { TRANSFERRED } from '../../../controller/reconcilers/transfer/plan.ts';
import { route, done, type RouteSpec } from '../../http/route.ts';
import { serverPhase } from '../../catalyst/servers.ts';
import { DEFAULT_WAIT_SECONDS, waitQuery } from './actions.ts';

const transferred = (s: GameServer) => s.status?.conditions?.find((c) => c.type === TRANSFERRED);

export const serverTransferRoutes: RouteSpec[] = [
  route({
    method: 'POST',
    path: '/api/servers/:serverId/transfer',
    summary: 'Move a stopped server to another node: its data is streamed from node to node through the controller, verified, then the source copy removed',
    tag: 'servers',
    access: { permission: 'server.transfer', server: true },
    body: { type: 'object', required: ['targetNodeId'], additionalProperties: false, properties: { targetNodeId: { type: 'string', minLength: 1, maxLength: 253, description: 'The GameNode to move the server to' } } },
    query: waitQuery,
    responses: {
      200: 'Transfer initiated (with wait: transferred, or reached false and why)',
      400: 'Server must be stopped / Target node offline or insufficient resources / Server already on target node',
      404: 'Node not found',
      409: 'A transfer of this server is under way',
      503: 'The node holding the data is offline',
    },
    handler: async ({ c, svc, server, body, query, audit }) => {
      const change = await svc.ops.servers.transfer(server!, body.targetNodeId);
      audit.metadata.previousNode = change.from ?? null;
      audit.metadata.targetNode = change.to;
      const shape = (s: GameServer | undefined) => ({
        id: change.server.metadata.name,
        name: change.server.spec?.displayName ?? change.server.metadata.name,
        previousNode: change.from ?? null,
        currentNode: (s && dataNode(s)) ?? change.from ?? change.to,
        targetNode: change.to,
        status: s ? serverPhase(s) : 'deleted',
      });
      if (!query.wait) return done(c, 'Server transfer initiated', { server: shape(change.server) });
      const outcome = await svc.ops.servers.wait(change, { timeoutMs: ((query.waitSeconds as number | undefined) ?? DEFAULT_WAIT_SECONDS) * 1000 });
      const s = outcome.object;
      if (outcome.reached) return done(c, 'Server transferred successfully', { server: shape(s), reached: true });
      return done(c, outcome.settled ? 'Server transfer failed' : 'Server transfer initiated', {
        server: shape(s),
        reached: false,
        timedOut: !outcome.settled,
        statusMessage: (s && transferred(s)?.message) ?? s?.status?.message ?? null,
        reason: (s && transferred(s)?.reason) ?? null,
      });
    },
  }),
];
