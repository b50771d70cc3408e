// Servers: list, get, create, update, delete (Catalyst "Servers"). A server is a GameServer in
// svc.servers.namespace; its Catalyst id is metadata.name, derived from the name given at creation.
import type { GameServer, GameServerSpec, ServerPort } from '../../../crds/types.ts';
import { API_VERSION } from '../../../crds/resource.ts';
import { allocatePorts, usedPorts } from '../../../controller/scheduling/ports.ts';
import { route, ok, done, type RouteSpec } from '../../http/route.ts';
import { ApiError, badRequest, conflict, forbidden, notFound } from '../../http/errors.ts';
import { can, type Principal } from '../../rbac/access.ts';
import type { ApiServices } from '../../http/services.ts';
import { SERVER_PERMISSIONS } from '../../rbac/permissions.ts';
import { resourceName } from '../../catalyst/common.ts';
import { checkVariables, mustBeStopped, serverPhase, toCatalystServer } from '../../catalyst/servers.ts';
import { checkNodeFits, findNode, findTemplate, patchServer, serverDetail, templateMap } from './shared.ts';
import { isOnNode, targetNode } from '../../../crds/placement.ts';

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

/** The owner a body names, checked: only staff (global server.update) may set it, and the user must exist. */
function ownerFrom(svc: ApiServices, principal: Principal, ownerId: string | undefined): string | undefined {
  if (ownerId === undefined) return undefined;
  if (!can(principal, 'server.update')) throw forbidden('Choosing a server\'s owner needs the global server.update permission', 'missing_permission');
  if (!svc.accounts.getUser(ownerId)) throw badRequest(`ownerId: no user "${ownerId}"`);
  return ownerId;
}

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
      let servers = (await svc.servers.list()).filter((s) => all || svc.access.visible(principal!, s));
      if (query.nodeId) servers = servers.filter((s) => isOnNode(s, query.nodeId as string));
      if (query.status) servers = servers.filter((s) => serverPhase(s) === query.status);
      servers.sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || a.metadata.name.localeCompare(b.metadata.name));
      const page = (query.page as number | undefined) ?? 1;
      const limit = (query.limit as number | undefined) ?? 20;
      const templates = await templateMap(svc);
      const slice = servers.slice((page - 1) * limit, page * limit);
      return ok(c, slice.map((s) => toCatalystServer(s, { template: templates.get(s.spec?.templateRef ?? ''), hub: svc.hub })), 200, {
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
      const template = await findTemplate(svc, body.templateId);
      if (!template) throw notFound(`Template not found: "${body.templateId}"`);
      const node = body.nodeId ? await findNode(svc, body.nodeId) : undefined;
      if (body.nodeId && !node) throw notFound(`Node not found: "${body.nodeId}"`);
      if (node?.metadata.deletionTimestamp) throw badRequest(`Node ${node.metadata.name} is being deleted`);
      const name = resourceName('server', body.id, body.name);
      audit.resourceType = 'server';
      audit.resourceId = name;
      audit.metadata.serverName = body.name;
      if (await svc.servers.find(name)) throw conflict(`A server with id "${name}" already exists; choose another name or give an id`, 'already_exists');

      const env: Record<string, string> = body.environment ?? {};
      checkVariables(template, env, Object.keys(env), can(principal!, 'server.update'));
      const owner = ownerFrom(svc, principal!, body.ownerId) ?? principal!.userId;
      const spec: GameServerSpec = { templateRef: template.metadata.name, displayName: body.name, owner, state: 'Stopped' };
      if (body.description !== undefined) spec.description = body.description;
      if (node) spec.nodeName = node.metadata.name;
      const resources: NonNullable<GameServerSpec['resources']> = {};
      if (body.allocatedMemoryMb !== undefined) resources.memoryMb = body.allocatedMemoryMb;
      if (body.allocatedCpuCores !== undefined) resources.cpuCores = body.allocatedCpuCores;
      if (body.allocatedDiskMb !== undefined) resources.diskMb = body.allocatedDiskMb;
      if (Object.keys(resources).length) spec.resources = resources;
      const ports = portsFrom(body, template.spec?.ports ?? []);
      if (ports) spec.ports = ports;
      if (body.networkMode) spec.networkMode = body.networkMode;
      if (Object.keys(env).length) spec.environment = env;
      if (body.restartPolicy !== undefined || body.maxCrashCount !== undefined) {
        spec.restartPolicy = {};
        if (body.restartPolicy !== undefined) spec.restartPolicy.policy = body.restartPolicy;
        if (body.maxCrashCount !== undefined) spec.restartPolicy.maxCrashCount = body.maxCrashCount;
      }
      if (body.stopTimeoutSeconds !== undefined) spec.stopTimeoutSeconds = body.stopTimeoutSeconds;
      const candidate: GameServer = { apiVersion: API_VERSION, kind: 'GameServer', metadata: { name, namespace: svc.servers.namespace }, spec };

      if (node) {
        await checkNodeFits(svc, candidate, template, node);
        const alloc = allocatePorts({ server: candidate, template, node, used: usedPorts(node.metadata.name, await svc.servers.list()) });
        if (!alloc.ok) throw new ApiError(alloc.kind === 'conflict' ? 409 : 400, `Cannot bind the server's ports on node ${node.metadata.name}: ${alloc.reason}`, 'port_unavailable');
      }
      const created = await svc.store.create<GameServer>(candidate);
      audit.resourceUid = created.metadata.uid;
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
      const name = server!.metadata.name;
      const template = await findTemplate(svc, server!.spec?.templateRef ?? '');
      const changesLimits = ['allocatedMemoryMb', 'allocatedCpuCores', 'allocatedDiskMb'].some((k) => body[k] !== undefined);
      const newOwner = ownerFrom(svc, principal!, body.ownerId);
      if (changesLimits && !can(principal!, 'server.update')) {
        throw forbidden('Changing resource limits needs the global server.update permission (owners and subusers cannot change their own limits)', 'missing_permission');
      }
      const updated = await patchServer(svc, name, async (current) => {
        const spec: Record<string, unknown> = {};
        if (body.name !== undefined) spec.displayName = body.name;
        if (body.description !== undefined) spec.description = body.description;
        if (body.stopTimeoutSeconds !== undefined) spec.stopTimeoutSeconds = body.stopTimeoutSeconds;
        if (newOwner !== undefined && newOwner !== current.spec?.owner) {
          spec.owner = newOwner;
          audit.metadata.previousOwner = current.spec?.owner ?? null;
          audit.metadata.owner = newOwner;
        }
        if (body.environment !== undefined) {
          if (!template) throw badRequest(`the server's template "${current.spec?.templateRef}" is missing; its variables cannot be checked`);
          const env: Record<string, string> = { ...(current.spec?.environment ?? {}) };
          for (const [k, v] of Object.entries(body.environment as Record<string, string | null>)) {
            if (v === null) delete env[k];
            else env[k] = v;
          }
          checkVariables(template, env, Object.keys(body.environment), can(principal!, 'server.update'));
          spec.environment = body.environment;
        }
        if (changesLimits) {
          const resources: Record<string, number> = {};
          if (body.allocatedMemoryMb !== undefined) resources.memoryMb = body.allocatedMemoryMb;
          if (body.allocatedCpuCores !== undefined) resources.cpuCores = body.allocatedCpuCores;
          if (body.allocatedDiskMb !== undefined) resources.diskMb = body.allocatedDiskMb;
          const cur = current.spec?.resources ?? {};
          const differs = Object.entries(resources).some(([k, v]) => (cur as Record<string, number>)[k] !== v);
          if (differs) {
            mustBeStopped(current, 'to update resource allocations');
            const nodeName = targetNode(current);
            const node = nodeName ? await findNode(svc, nodeName) : undefined;
            if (node && template) await checkNodeFits(svc, { ...current, spec: { ...current.spec!, resources: { ...cur, ...resources } } }, template, node);
            spec.resources = resources;
            audit.metadata.resources = resources;
          }
        }
        return { spec };
      });
      return ok(c, await serverDetail(svc, updated, principal));
    },
  }),

  route({
    method: 'DELETE',
    path: '/api/servers/:serverId',
    summary: 'Delete a stopped server (its container and data go with it)',
    tag: 'servers',
    access: { permission: 'server.delete', server: true },
    handler: async ({ c, svc, server }) => {
      mustBeStopped(server!, 'before deletion');
      const name = server!.metadata.name;
      const after = await svc.store.delete<GameServer>('GameServer', svc.servers.namespace, name, { resourceVersion: server!.metadata.resourceVersion }).catch(async (err) => {
        // A status write in between is no reason to refuse; check again on the fresh object.
        const fresh = await svc.servers.find(name);
        if (!fresh) return undefined;
        if ((err as { reason?: string }).reason !== 'Conflict') throw err;
        mustBeStopped(fresh, 'before deletion');
        return svc.store.delete<GameServer>('GameServer', svc.servers.namespace, name);
      });
      // Removed at once (no finalizer held it): its grants and the rest go now, not when the informer
      // hears of it. Held by the cleanup finalizer: the reaper drops them when the object goes.
      if (after && !after.metadata.deletionTimestamp) await svc.reaper.serverGone(after);
      return done(c, 'Server deleted successfully', { serverId: name });
    },
  }),
];
