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

const protocolQuery = { protocol: { type: 'string', enum: ['TCP', 'UDP'], description: 'default TCP' } };

/** Fills missing host ports (bound servers) and checks explicit ones against the node's other servers. */
async function bindPorts(svc: ApiServices, server: GameServer, ports: ServerPort[]): Promise<ServerPort[]> {
  const nodeName = server.spec?.nodeName ?? server.status?.nodeName;
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

export const allocationRoutes: RouteSpec[] = [
  route({
    method: 'GET',
    path: '/api/servers/:serverId/allocations',
    summary: 'List the server\'s port bindings',
    tag: 'servers',
    access: { permission: 'server.read', server: true },
    handler: async ({ c, svc, server }) => ok(c, (await currentPorts(svc, server!)).map(toAllocation)),
  }),

  route({
    method: 'POST',
    path: '/api/servers/:serverId/allocations',
    summary: 'Add a port binding (server must be stopped); hostPort left out or 0 = allocate from the node\'s range',
    tag: 'servers',
    access: { permission: 'server.update', server: true },
    blockedWhenSuspended: true,
    body: {
      type: 'object',
      required: ['containerPort'],
      additionalProperties: false,
      properties: {
        containerPort: { type: 'integer', minimum: 1, maximum: 65535 },
        hostPort: { type: 'integer', minimum: 0, maximum: 65535 },
        protocol: { type: 'string', enum: ['TCP', 'UDP'] },
        name: { type: 'string', maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
      },
    },
    handler: async ({ c, svc, server, body, audit }) => {
      const protocol = body.protocol ?? 'TCP';
      let added: ServerPort | undefined;
      await patchServer(svc, server!.metadata.name, async (s) => {
        mustBeStopped(s, 'to change allocations');
        const ports = await currentPorts(svc, s);
        if (ports.some((p) => p.containerPort === body.containerPort && (p.protocol ?? 'TCP') === protocol)) {
          throw conflict(`Port ${body.containerPort}/${protocol} is already allocated`, 'already_allocated');
        }
        const next = [...ports, { containerPort: body.containerPort, hostPort: body.hostPort ?? 0, protocol, primary: false, ...(body.name ? { name: body.name } : {}) } as ServerPort];
        const bound = await bindPorts(svc, s, next);
        added = bound.find((p) => p.containerPort === body.containerPort && p.protocol === protocol);
        return { spec: { ports: bound } };
      });
      audit.metadata.allocation = `${body.containerPort}/${protocol}`;
      return ok(c, toAllocation(added!));
    },
  }),

  route({
    method: 'DELETE',
    path: '/api/servers/:serverId/allocations/:containerPort',
    summary: 'Remove a non-primary port binding (server must be stopped)',
    tag: 'servers',
    access: { permission: 'server.update', server: true },
    blockedWhenSuspended: true,
    query: protocolQuery,
    handler: async ({ c, svc, server, params, query, audit }) => {
      const port = Number(params.containerPort);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw badRequest(`containerPort "${params.containerPort}" is not a port number`);
      const protocol = (query.protocol as string | undefined) ?? 'TCP';
      await patchServer(svc, server!.metadata.name, async (s) => {
        mustBeStopped(s, 'to change allocations');
        const ports = await currentPorts(svc, s);
        const p = ports.find((x) => x.containerPort === port && (x.protocol ?? 'TCP') === protocol);
        if (!p) throw notFound(`Allocation ${port}/${protocol} not found`);
        if (p.primary) throw badRequest(`Port ${port}/${protocol} is the primary allocation; make another port primary first`, 'primary_allocation');
        return { spec: { ports: ports.filter((x) => x !== p) } };
      });
      audit.metadata.allocation = `${port}/${protocol}`;
      return c.json({ success: true }, 200);
    },
  }),

  route({
    method: 'POST',
    path: '/api/servers/:serverId/allocations/primary',
    summary: 'Make an existing port binding the primary one (server must be stopped)',
    tag: 'servers',
    access: { permission: 'server.update', server: true },
    blockedWhenSuspended: true,
    body: {
      type: 'object',
      required: ['containerPort'],
      additionalProperties: false,
      properties: { containerPort: { type: 'integer', minimum: 1, maximum: 65535 }, protocol: { type: 'string', enum: ['TCP', 'UDP'] } },
    },
    handler: async ({ c, svc, server, body }) => {
      const protocol = body.protocol ?? 'TCP';
      await patchServer(svc, server!.metadata.name, async (s) => {
        mustBeStopped(s, 'to change allocations');
        const ports = await currentPorts(svc, s);
        if (!ports.some((x) => x.containerPort === body.containerPort && (x.protocol ?? 'TCP') === protocol)) {
          throw notFound(`Allocation ${body.containerPort}/${protocol} not found`);
        }
        return { spec: { ports: ports.map((x) => ({ ...x, primary: x.containerPort === body.containerPort && (x.protocol ?? 'TCP') === protocol })) } };
      });
      return ok(c, { primaryPort: body.containerPort, protocol });
    },
  }),
];
