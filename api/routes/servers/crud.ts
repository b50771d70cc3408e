// Servers: list, get, create, update, delete (Catalyst "Servers"). A server is a GameServer in
// svc.servers.namespace; its Catalyst id is metadata.name, derived from the name given at creation.
import type { GameServerSpec, ServerPort } from '../../../crds/types.ts';
import { isOnNode } from '../../../crds/placement.ts';
import { route, ok, okJsonList, done, type RouteSpec } from '../../http/route.ts';
import { badRequest, notFound } from '../../http/errors.ts';
import { can } from '../../rbac/access.ts';
import { SERVER_PERMISSIONS } from '../../rbac/permissions.ts';
import { resourceName } from '../../catalyst/common.ts';
import { catalystServerJson, serverPhase, toCatalystServer } from '../../catalyst/servers.ts';
import { createServer, updateServer } from '../../ops/servers.ts';
import { serverDetail, templateMap } from './shared.ts';

const PHASES = ['stopped', 'installing', 'starting', 'running', 'stopping', 'crashed', 'transferring', 'suspended', 'error'];

const envSchema = { type: 'object', maxProperties: 256, propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$', maxLength: 128 }, additionalProperties: { type: 'string', maxLength: 32768 } };

const createBody = {
  type: 'object',
  required: ['name', 'templateId'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', maxLength: 63, description: 'The server id (DNS-1123 label); default: derived from name' },
    name: { type: 'string', minLength: 1, maxLength: 128 },
    description: { type: 'string', maxLength: 4096 },
    templateId: { type: 'string', minLength: 1, maxLength: 253 },
    nodeId: { type: 'string', minLength: 1, maxLength: 253, description: 'Left out: the scheduler picks a node' },
    locationId: { type: 'string', maxLength: 63, description: 'Accepted for Catalyst clients; nodes are chosen by nodeId or the scheduler' },
    allocatedMemoryMb: { type: 'integer', minimum: 64, maximum: 1048576 },
    allocatedCpuCores: { type: 'number', minimum: 0.1, maximum: 1024 },
    allocatedDiskMb: { type: 'integer', minimum: 0, maximum: 104857600 },
    primaryPort: { type: 'integer', minimum: 1, maximum: 65535, description: 'Container port players connect to' },
    portBindings: { type: 'object', maxProperties: 64, propertyNames: { pattern: '^[0-9]{1,5}$' }, additionalProperties: { type: 'integer', minimum: 0, maximum: 65535 }, description: 'containerPort → hostPort (0: allocate one)' },
    networkMode: { type: 'string', enum: ['bridge', 'host', 'none'] },
    environment: envSchema,
    restartPolicy: { type: 'string', enum: ['always', 'on-failure', 'never'] },
    maxCrashCount: { type: 'integer', minimum: 0, maximum: 1000 },
    stopTimeoutSeconds: { type: 'integer', minimum: 0, maximum: 3600 },
    ownerId: { type: 'string', minLength: 1, maxLength: 64, description: 'Create the server for another user (needs the global server.update); default: the caller' },
  },
};

const updateBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 128 },
    description: { type: 'string', maxLength: 4096 },
    environment: { ...envSchema, additionalProperties: { type: 'string', maxLength: 32768, nullable: true }, description: 'Merged into the current values; null removes a key' },
    allocatedMemoryMb: { type: 'integer', minimum: 64, maximum: 1048576 },
    allocatedCpuCores: { type: 'number', minimum: 0.1, maximum: 1024 },
    allocatedDiskMb: { type: 'integer', minimum: 0, maximum: 104857600 },
    stopTimeoutSeconds: { type: 'integer', minimum: 0, maximum: 3600 },
    ownerId: { type: 'string', minLength: 1, maxLength: 64, description: 'Give the server to another user (needs the global server.update)' },
  },
};

function portsFrom(body: { primaryPort?: number; portBindings?: Record<string, number> }, templatePorts: { containerPort: number; protocol?: 'TCP' | 'UDP'; name?: string }[]): ServerPort[] | undefined {
  if (body.portBindings) {
    const ports = Object.entries(body.portBindings).map(([cp, hp]): ServerPort => {
      const containerPort = Number(cp);
      if (!(containerPort >= 1 && containerPort <= 65535)) throw badRequest(`portBindings: "${cp}" is not a port number (1-65535)`);
      const t = templatePorts.find((p) => p.containerPort === containerPort);
      return { containerPort, hostPort: hp, protocol: t?.protocol ?? 'TCP', primary: false, ...(t?.name ? { name: t.name } : {}) };
    });
    if (!ports.length) throw badRequest('portBindings is empty; leave it out to use the template\'s ports');
    const primary = body.primaryPort ?? ports[0]!.containerPort;
    const p = ports.find((x) => x.containerPort === primary);
    if (!p) throw badRequest(`primaryPort ${primary} is not one of the portBindings (${ports.map((x) => x.containerPort).join(', ')})`);
    p.primary = true;
    return ports;
  }
  if (body.primaryPort !== undefined) {
    const ports: ServerPort[] = templatePorts.map((p) => ({ containerPort: p.containerPort, hostPort: 0, protocol: p.protocol ?? 'TCP', primary: p.containerPort === body.primaryPort, ...(p.name ? { name: p.name } : {}) }));
    if (!ports.some((p) => p.primary)) ports.unshift({ containerPort: body.primaryPort, hostPort: 0, protocol: 'TCP', primary: true });
    return ports;
  }
  return undefined;
}

export const serverCrudRoutes: RouteSpec[] = [
  route({
    method: 'GET',
    path: '/api/servers',
    summary: 'List the servers the caller can see (owned, shared with them, or all with server.read)',
    tag: 'servers',
    access: 'authenticated',
    query: {
      nodeId: { type: 'string', maxLength: 253 },
      status: { type: 'string', enum: PHASES },
      page: { type: 'integer', minimum: 1, description: 'default 1' },
      limit: { type: 'integer', minimum: 1, maximum: 100, description: 'default 20' },
    },
    handler: async ({ c, svc, principal, query }) => {
      const all = can(principal!, 'server.read');
      let servers = (await svc.servers.listOldestFirst()).filter((s) => all || svc.access.visible(principal!, s));
      if (query.nodeId) servers = servers.filter((s) => isOnNode(s, query.nodeId as string));
      if (query.status) servers = servers.filter((s) => serverPhase(s) === query.status);
      const page = (query.page as number | undefined) ?? 1;
      const limit = (query.limit as number | undefined) ?? 20;
      const templates = await templateMap(svc);
      const slice = servers.slice((page - 1) * limit, page * limit);
      const items = slice.map((s) => catalystServerJson(s, { template: templates.get(s.spec?.templateRef ?? ''), hub: svc.hub }));
      return okJsonList(c, items, 200, {
        pagination: { page, limit, total: servers.length, pages: Math.max(1, Math.ceil(servers.length / limit)) },
      });
    },
  }),

  route({
    method: 'GET',
    path: '/api/servers/:serverId',
    summary: 'Get one server with its node, template, environment and live usage',
    tag: 'servers',
    access: { permission: 'server.read', server: true },
    handler: async ({ c, svc, principal, server }) => {
      const data = await serverDetail(svc, server!, principal);
      data.permissions = svc.access.permissionsOn(principal!, server!, SERVER_PERMISSIONS);
      return ok(c, data);
    },
  }),

  route({
    method: 'POST',
    path: '/api/servers',
    summary: 'Create a server from a template (the caller owns it); validated against the template and the node',
    tag: 'servers',
    access: { permission: 'server.create' },
    body: createBody,
    responses: { 201: 'Created', 400: 'Missing required template variables / Node does not have enough resources', 404: 'Template not found / Node not found', 409: 'A server with that id exists' },
    handler: async ({ c, svc, principal, body, audit }) => {
      const name = resourceName('server', body.id, body.name);
      audit.resourceType = 'server';
      audit.resourceId = name;
      audit.metadata.serverName = body.name;
      // Catalyst's port fields need the template's ports; the operation checks the template again.
      const template = await svc.ops.servers.template(body.templateId);
      if (!template) throw notFound(`Template not found: "${body.templateId}"`);
      const resources: NonNullable<GameServerSpec['resources']> = {};
      if (body.allocatedMemoryMb !== undefined) resources.memoryMb = body.allocatedMemoryMb;
      if (body.allocatedCpuCores !== undefined) resources.cpuCores = body.allocatedCpuCores;
      if (body.allocatedDiskMb !== undefined) resources.diskMb = body.allocatedDiskMb;
      const created = await createServer(svc, principal!, {
        namespace: svc.servers.namespace,
        name,
        templateRef: template.metadata.name,
        displayName: body.name,
        description: body.description,
        nodeName: body.nodeId,
        resources,
        ports: portsFrom(body, template.spec?.ports ?? []),
        networkMode: body.networkMode,
        environment: body.environment,
        restartPolicy: { policy: body.restartPolicy, maxCrashCount: body.maxCrashCount },
        stopTimeoutSeconds: body.stopTimeoutSeconds,
        ownerId: body.ownerId,
      });
      audit.resourceUid = created.metadata.uid;
      const node = body.nodeId ? await svc.ops.servers.node(body.nodeId) : undefined;
      return ok(c, toCatalystServer(created, { template, node, hub: svc.hub, detail: true, revealSecrets: true }), 201);
    },
  }),

  route({
    method: 'PUT',
    path: '/api/servers/:serverId',
    summary: 'Update name, description, environment; resource limits only while stopped and only with the global server.update',
    tag: 'servers',
    access: { permission: 'server.update', server: true },
    blockedWhenSuspended: true,
    body: updateBody,
    handler: async ({ c, svc, principal, server, body, audit }) => {
      const resources: Record<string, number> = {};
      if (body.allocatedMemoryMb !== undefined) resources.memoryMb = body.allocatedMemoryMb;
      if (body.allocatedCpuCores !== undefined) resources.cpuCores = body.allocatedCpuCores;
      if (body.allocatedDiskMb !== undefined) resources.diskMb = body.allocatedDiskMb;
      const r = await updateServer(svc, principal!, server!, {
        displayName: body.name,
        description: body.description,
        stopTimeoutSeconds: body.stopTimeoutSeconds,
        environment: body.environment,
        resources,
        ownerId: body.ownerId,
      });
      if (r.owner) {
        audit.metadata.previousOwner = r.owner.from;
        audit.metadata.owner = r.owner.to;
      }
      if (r.resources) audit.metadata.resources = r.resources;
      return ok(c, await serverDetail(svc, r.server, principal));
    },
  }),

  route({
    method: 'DELETE',
    path: '/api/servers/:serverId',
    summary: 'Delete a stopped server (its container and data go with it)',
    tag: 'servers',
    access: { permission: 'server.delete', server: true },
    handler: async ({ c, svc, server }) => {
      await svc.ops.servers.delete(server!);
      return done(c, 'Server deleted successfully', { serverId: server!.metadata.name });
    },
  }),
];
