// Allocations (port bindings): spec.ports with explicit host ports. Changes need a stopped server;
// a host port left out is allocated from the node's port range now, so the reconciler never meets a
// port without a host port (status.ports is written only at admission).
import { route, ok, type RouteSpec } from '../../http/route.ts';
import { badRequest } from '../../http/errors.ts';
import { toAllocation } from '../../catalyst/servers.ts';

const protocolQuery = { protocol: { type: 'string', enum: ['TCP', 'UDP'], description: 'default TCP' } };

const portProps = { containerPort: { type: 'integer', minimum: 1, maximum: 65535 }, protocol: { type: 'string', enum: ['TCP', 'UDP'] } } as const;

/** A route that changes the server's allocations: server.update on it, refused while suspended. */
const changeRoute = (spec: Omit<RouteSpec, 'tag' | 'access' | 'blockedWhenSuspended'>): RouteSpec =>
  route({ ...spec, tag: 'servers', access: { permission: 'server.update', server: true }, blockedWhenSuspended: true });

export const allocationRoutes: RouteSpec[] = [
  route({
    method: 'GET',
    path: '/api/servers/:serverId/allocations',
    summary: 'List the server\'s port bindings',
    tag: 'servers',
    access: { permission: 'server.read', server: true },
    handler: async ({ c, svc, server }) => ok(c, (await svc.ops.servers.ports(server!)).map(toAllocation)),
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
      const added = await svc.ops.servers.addPort(server!, { containerPort: body.containerPort, hostPort: body.hostPort, protocol: body.protocol, name: body.name });
      audit.metadata.allocation = `${body.containerPort}/${added.protocol ?? 'TCP'}`;
      return ok(c, toAllocation(added));
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
      const protocol = (query.protocol as 'TCP' | 'UDP' | undefined) ?? 'TCP';
      await svc.ops.servers.removePort(server!, port, protocol);
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
      await svc.ops.servers.setPrimaryPort(server!, body.containerPort, protocol);
      return ok(c, { primaryPort: body.containerPort, protocol });
    },
  }),
];
