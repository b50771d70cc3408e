// Console & logs: the console history of a server and console commands. Neither is state: history is
// the hub's bounded buffer per server (1000 lines by default; the agent keeps 500, so the hub is read
// first and the agent asked only when the hub has nothing, e.g. right after a controller restart), and
// a command goes to the agent through the hub.
import type { ConsoleLine } from '../../agent/protocol.ts';
import type { GameServer } from '../../crds/types.ts';
import { AgentRpcError, NodeDisconnectedError, NodeNotConnectedError, RpcTimeoutError } from '../../controller/hub/errors.ts';
import { route, ok, done, type RouteSpec } from '../http/route.ts';
import { ApiError, badRequest, conflict } from '../http/errors.ts';
import type { ApiServices } from '../http/services.ts';
import { serverPhase } from '../catalyst/servers.ts';
import { dataNode } from '../../crds/placement.ts';

export const MAX_LOG_LINES = 1000;

async function history(svc: ApiServices, s: GameServer): Promise<ConsoleLine[]> {
  const node = dataNode(s);
  const uid = s.metadata.uid;
  if (!svc.hub || !node || !uid) return [];
  const kept = svc.hub.consoleHistory(node, uid);
  if (kept.length || !svc.hub.isConnected(node)) return kept;
  try {
    return await svc.hub.call(node, 'consoleHistory', { uid, lines: MAX_LOG_LINES }, { timeoutMs: 5000 });
  } catch (err) {
    svc.log.warn('console history from the agent failed', { server: s.metadata.name, node, err });
    return [];
  }
}

function parseBefore(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(ms)) throw badRequest(`query parameter before: "${v.slice(0, 50)}" is not a timestamp (RFC 3339 or milliseconds since the epoch)`);
  return ms;
}

export const logRoutes: RouteSpec[] = [
  route({
    method: 'GET',
    path: '/api/servers/:serverId/logs',
    summary: 'Console history of a server (newest last)',
    tag: 'console',
    access: { permission: 'server.logs.read', server: true },
    query: {
      limit: { type: 'integer', minimum: 1, maximum: MAX_LOG_LINES, description: 'default 100' },
      stream: { type: 'string', enum: ['stdout', 'stderr', 'system'] },
      before: { type: 'string', maxLength: 64, description: 'Only lines before this time (RFC 3339 or epoch ms)' },
    },
    handler: async ({ c, svc, server, query }) => {
      const s = server!;
      const before = parseBefore(query.before as string | undefined);
      const limit = (query.limit as number | undefined) ?? 100;
      const all = await history(svc, s);
      // Ids number the lines of the returned window in order, stable for the same history.
      const numbered = all.map((l, i) => ({ l, i }));
      const filtered = numbered.filter(({ l }) => (!query.stream || l.stream === query.stream) && (before === undefined || l.ts < before));
      const page = filtered.slice(-limit);
      return ok(
        c,
        page.map(({ l, i }) => ({
          id: `${s.metadata.uid ?? s.metadata.name}-${l.ts}-${i}`,
          serverId: s.metadata.name,
          stream: l.stream,
          data: l.line.endsWith('\n') ? l.line : l.line + '\n',
          timestamp: new Date(l.ts).toISOString(),
        })),
        200,
        { hasMore: filtered.length > page.length },
      );
    },
  }),

  route({
    method: 'POST',
    path: '/api/servers/:serverId/command',
    summary: 'Send a command to the server console (its output appears in the logs)',
    tag: 'console',
    access: { permission: 'server.console', server: true },
    blockedWhenSuspended: true,
    body: { type: 'object', required: ['command'], additionalProperties: false, properties: { command: { type: 'string', minLength: 1, maxLength: 4096 } } },
    responses: { 409: 'Server is not running, or its node is offline' },
    handler: async ({ c, svc, server, body, audit }) => {
      const s = server!;
      const command: string = body.command;
      if (/[\r\n]/.test(command.replace(/\r?\n$/, ''))) throw badRequest('command must be one line; send several commands one by one');
      const line = command.replace(/\r?\n$/, '');
      audit.metadata.command = line.slice(0, 200);
      const node = dataNode(s);
      const uid = s.metadata.uid!;
      const phase = serverPhase(s);
      if (!node) throw conflict(`Server is not running (status: ${phase}); it has no node yet`, 'server_not_running');
      if (!svc.hub || !svc.hub.isConnected(node)) throw conflict(`Cannot send the command: node ${node} is offline`, 'node_offline');
      const container = svc.hub.container(node, uid);
      if (!container || container.state !== 'running' || !['running', 'starting'].includes(phase)) {
        throw conflict(`Server is not running (status: ${phase}); start it first`, 'server_not_running');
      }
      try {
        await svc.hub.call(node, 'sendCommand', { uid, line }, { timeoutMs: 10_000 });
      } catch (err) {
        if (err instanceof NodeNotConnectedError || err instanceof NodeDisconnectedError) throw conflict(`Cannot send the command: node ${node} is offline`, 'node_offline');
        if (err instanceof RpcTimeoutError) throw new ApiError(504, `node ${node} did not confirm the command within 10 s`, 'agent_timeout');
        if (err instanceof AgentRpcError) throw conflict(`The node refused the command: ${err.agentMessage}`, err.code);
        throw err;
      }
      return done(c, 'Command sent');
    },
  }),
];
