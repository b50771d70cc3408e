// Allocations (port bindings): spec.ports with explicit host ports. Changes need a stopped server;
// a host port left out is allocated from the node's port range now, so the reconciler never meets a
// port without a host port (status.ports is written only at admission).
import type { GameServer, ServerPort } from '../../../crds/types.ts';
import { allocatePorts, portRangeOf, usedPorts } from '../../../controller/scheduling/ports.ts';
import { route, ok, type RouteSpec } from '../../http/route.ts';
import { ApiError, badRequest, conflict, notFound } from '../../http/errors.ts';
import type { ApiServices } from '../../http/services.ts';
import { effectivePorts, mustBeStopped, toAllocation } from '../../catalyst/servers.ts';
import { findNode, findTemplate, patchServer } from './shared.ts';
import { targetNode } from '../../../crds/placement.ts';

const protocolQuery = { protocol: { type: 'string', enum: ['TCP', 'UDP'], description: 'default TCP' } };

/** Fills missing host ports (bound servers) and checks explicit ones against the node's other servers. */
async function bindPorts(svc: ApiServices, server: GameServer, ports: ServerPort[]): Promise<ServerPort[]> {
  const nodeName = targetNode(server);
  if (!nodeName || (server.spec?.networkMode ?? 'bridge') === 'none') return ports;
  const node = await findNode(svc, nodeName);
  if (!node) return ports;
  const template = await findTemplate(svc, server.spec?.templateRef ?? '');
  const candidate: GameServer = { ...server, spec: { ...server.spec!, ports } };
  const result = allocatePorts({ server: candidate, template, node, used: usedPorts(nodeName, await svc.servers.list(), { except: server }) });
  if (!result.ok) {
    const range = portRangeOf(node);
    throw new ApiError(result.kind === 'conflict' ? 409 : 400, `${result.reason} (node port range ${range.start}-${range.end})`, 'port_unavailable');
  }
  return result.ports;
}

async function currentPorts(svc: ApiServices, s: GameServer): Promise<ServerPort[]> {
  return effectivePorts(s, await findTemplate(svc, s.spec?.templateRef ?? ''));
}

const portProps = { containerPort: { type: 'integer', minimum: 1, maximum: 65535 }, protocol: { type: 'string', enum: ['TCP', 'UDP'] } } as const;

/** A route that changes the server's allocations: server.update on it, refused while suspended. */
const changeRoute = (spec: Omit<RouteSpec, 'tag' | 'access' | 'blockedWhenSuspended'>): RouteSpec =>
  route({ ...spec, tag: 'servers', access: { permission: 'server.update', server: true }, blockedWhenSuspended: true });

const isPort = (x: ServerPort, containerPort: number, protocol: string) => x.containerPort === containerPort && (x.protocol ?? 'TCP') === protocol;

/** Rewrites spec.ports of a stopped server from its current ports (retried on a version conflict). */
async function changePorts(svc: ApiServices, server: GameServer, change: (ports: ServerPort[], s: GameServer) => ServerPort[] | Promise<ServerPort[]>): Promise<void> {
  await patchServer(svc, server.metadata.name, async (s) => {
    mustBeStopped(s, 'to change allocations');
    return { spec: { ports: await change(await currentPorts(svc, s), s) } };
  });
}

export const allocationRoutes: RouteSpec[] = [
  route({
    method: 'GET',
    path: '/api/servers/:serverId/allocations',
    summary: 'List the server\'s port bindings',
    tag: 'servers',
    access: { permission: 'server.read', server: true },
    handler: async ({ c, svc, server }) => ok(c, (await currentPorts(svc, server!)).map(toAllocation)),
  }),

  changeRoute({
    method: 'POST',
    path: '/api/servers/:serverId/allocations',
    summary: 'Add a port binding (server must be stopped); hostPort left out or 0 = allocate from the node\'s range',
    body: {
      type: 'object',
      required: ['containerPort'],
      additionalProperties: false,
      properties: {
        containerPort: portProps.containerPort,
        hostPort: { type: 'integer', minimum: 0, maximum: 65535 },
        protocol: portProps.protocol,
        name: { type: 'string', maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
      },
    },
    handler: async ({ c, svc, server, body, audit }) => {
      const protocol = body.protocol ?? 'TCP';
      let added: ServerPort | undefined;
      await changePorts(svc, server!, async (ports, s) => {
        if (ports.some((p) => isPort(p, body.containerPort, protocol))) {
          throw conflict(`Port ${body.containerPort}/${protocol} is already allocated`, 'already_allocated');
        }
        const next = [...ports, { containerPort: body.containerPort, hostPort: body.hostPort ?? 0, protocol, primary: false, ...(body.name ? { name: body.name } : {}) } as ServerPort];
        const bound = await bindPorts(svc, s, next);
        added = bound.find((p) => p.containerPort === body.containerPort && p.protocol === protocol);
        return bound;
      });
      audit.metadata.allocation = `${body.containerPort}/${protocol}`;
      return ok(c, toAllocation(added!));
    },
  }),

  changeRoute({
    method: 'DELETE',
    path: '/api/servers/:serverId/allocations/:containerPort',
    summary: 'Remove a non-primary port binding (server must be stopped)',
    query: protocolQuery,
    handler: async ({ c, svc, server, params, query, audit }) => {
      const port = Number(params.containerPort);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw badRequest(`containerPort "${params.containerPort}" is not a port number`);
      const protocol = (query.protocol as string | undefined) ?? 'TCP';
      await changePorts(svc, server!, (ports) => {
        const p = ports.find((x) => isPort(x, port, protocol));
        if (!p) throw notFound(`Allocation ${port}/${protocol} not found`);
        if (p.primary) throw badRequest(`Port ${port}/${protocol} is the primary allocation; make another port primary first`, 'primary_allocation');
        return ports.filter((x) => x !== p);
      });
      audit.metadata.allocation = `${port}/${protocol}`;
      return c.json({ success: true }, 200);
    },
  }),

  changeRoute({
    method: 'POST',
    path: '/api/servers/:serverId/allocations/primary',
    summary: 'Make an existing port binding the primary one (server must be stopped)',
    body: { type: 'object', required: ['containerPort'], additionalProperties: false, properties: portProps },
    handler: async ({ c, svc, server, body }) => {
      const protocol = body.protocol ?? 'TCP';
      await changePorts(svc, server!, (ports) => {
        if (!ports.some((x) => isPort(x, body.containerPort, protocol))) {
          throw notFound(`Allocation ${body.containerPort}/${protocol} not found`);
        }
        return ports.map((x) => ({ ...x, primary: isPort(x, body.containerPort, protocol) }));
      });
      return ok(c, { primaryPort: body.containerPort, protocol });
    },
  }),
];
