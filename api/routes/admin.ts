// Admin APIs (Catalyst "Admin APIs"): statistics, every server with its owner, health, audit log.
// Health reports only what exists in Gantry: there is no Redis (answered as "not used"), and the
// services are the ones this process runs.
import type { GameNode, GameServer } from '../../crds/types.ts';
import { allocatedOn, nodeAllocatable } from '../../controller/scheduling/resources.ts';
import { route, ok, type RouteSpec } from '../http/route.ts';
import { badRequest } from '../http/errors.ts';
import type { ApiServices } from '../http/services.ts';
import { serverPhase, toCatalystServer, usageOf } from '../catalyst/servers.ts';
import { templateMap } from './servers/shared.ts';
import { currentNode, isOnNode } from '../../crds/placement.ts';

const ADMIN = { permission: 'admin.read' } as const;

async function everything(svc: ApiServices): Promise<{ nodes: GameNode[]; servers: GameServer[] }> {
  const [nodes, servers] = await Promise.all([svc.store.list<GameNode>('GameNode'), svc.store.list<GameServer>('GameServer')]);
  return { nodes: nodes.items, servers: servers.items };
}

const round = (n: number, places = 2) => Math.round(n * 10 ** places) / 10 ** places;

export const adminRoutes: readonly RouteSpec[] = [
  route({
    method: 'GET',
    path: '/api/admin/stats',
    summary: 'System statistics: servers, nodes, users, capacity and what is allocated of it',
    tag: 'admin',
    access: ADMIN,
    handler: async ({ c, svc }) => {
      const { nodes, servers } = await everything(svc);
      const templates = await templateMap(svc);
      let totalMemoryMb = 0;
      let totalCpuCores = 0;
      let totalDiskMb = 0;
      let usedMemoryMb = 0;
      let usedCpuCores = 0;
      let usedDiskMb = 0;
      for (const n of nodes) {
        const cap = nodeAllocatable(n, svc.hub?.node(n.metadata.name)?.health);
        totalMemoryMb += cap.memoryMb ?? 0;
        totalCpuCores += cap.cpuCores ?? 0;
        totalDiskMb += cap.diskMb ?? 0;
        const a = allocatedOn(n.metadata.name, servers, templates);
        usedMemoryMb += a.memoryMb;
        usedCpuCores += a.cpuCores;
        usedDiskMb += a.diskMb;
      }
      let memoryInUseMb = 0;
      let cpuInUsePercent = 0;
      for (const s of servers) {
        const u = usageOf(s, svc.hub);
        memoryInUseMb += u.memoryUsageMb;
        cpuInUsePercent += u.cpuUsage;
      }
      return ok(c, {
        totalServers: servers.length,
        runningServers: servers.filter((s) => serverPhase(s) === 'running').length,
        suspendedServers: servers.filter((s) => s.spec?.suspended).length,
        crashedServers: servers.filter((s) => serverPhase(s) === 'crashed').length,
        totalNodes: nodes.length,
        onlineNodes: nodes.filter((n) => n.status?.phase === 'Online').length,
        totalUsers: svc.accounts.userCount(),
        totalMemoryMb,
        usedMemoryMb,
        totalCpuCores: round(totalCpuCores),
        usedCpuCores: round(usedCpuCores),
        totalDiskMb,
        usedDiskMb,
        memoryInUseMb,
        cpuInUsePercent: round(cpuInUsePercent, 1),
      });
    },
  }),

  route({
    method: 'GET',
    path: '/api/admin/servers',
    summary: 'Every server with its owner and node',
    tag: 'admin',
    access: ADMIN,
    query: {
      page: { type: 'integer', minimum: 1, description: 'default 1' },
      limit: { type: 'integer', minimum: 1, maximum: 100, description: 'default 20' },
      status: { type: 'string', maxLength: 32 },
      nodeId: { type: 'string', maxLength: 253 },
      ownerId: { type: 'string', maxLength: 128 },
    },
    handler: async ({ c, svc, query }) => {
      const { nodes, servers: all } = await everything(svc);
      const byName = new Map(nodes.map((n) => [n.metadata.name, n]));
      const templates = await templateMap(svc);
      let servers = all.filter((s) => (s.metadata.namespace ?? 'default') === svc.servers.namespace);
      if (query.status) servers = servers.filter((s) => serverPhase(s) === query.status);
      if (query.nodeId) servers = servers.filter((s) => isOnNode(s, query.nodeId as string));
      if (query.ownerId) servers = servers.filter((s) => s.spec?.owner === query.ownerId);
      servers.sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || a.metadata.name.localeCompare(b.metadata.name));
      const page = (query.page as number | undefined) ?? 1;
      const limit = (query.limit as number | undefined) ?? 20;
      const data = servers.slice((page - 1) * limit, page * limit).map((s) => {
        const base = toCatalystServer(s, { template: templates.get(s.spec?.templateRef ?? ''), hub: svc.hub });
        const ownerId = s.spec?.owner;
        const owner = ownerId ? svc.accounts.getUser(ownerId) : undefined;
        const nodeId = currentNode(s);
        const node = nodeId ? byName.get(nodeId) : undefined;
        return {
          ...base,
          owner: ownerId ? { id: ownerId, username: owner?.username ?? null, email: owner?.email ?? null } : null,
          node: nodeId ? { id: nodeId, name: node?.spec?.displayName ?? nodeId, isOnline: node?.status?.phase === 'Online' } : null,
        };
      });
      return ok(c, data, 200, { pagination: { page, limit, total: servers.length, pages: Math.max(1, Math.ceil(servers.length / limit)) } });
    },
  }),

  route({
    method: 'GET',
    path: '/api/admin/health',
    summary: 'System health: database, nodes, the services this process runs, uptime',
    tag: 'admin',
    access: ADMIN,
    handler: async ({ c, svc }) => {
      let database = 'connected';
      let databaseError: string | undefined;
      try {
        await svc.store.list('GameNode', { limit: 1 });
      } catch (err) {
        database = 'error';
        databaseError = (err as Error).message;
      }
      const nodes = database === 'connected' ? (await svc.store.list<GameNode>('GameNode')).items : [];
      const online = nodes.filter((n) => n.status?.phase === 'Online').length;
      const services: Record<string, string> = {
        api: 'running',
        agentHub: svc.hub ? 'running' : 'not configured',
        nodeEnrollment: svc.nodes ? 'running' : 'not configured',
      };
      const status = database !== 'connected' ? 'unhealthy' : online < nodes.length ? 'degraded' : 'healthy';
      return ok(c, {
        status,
        database,
        ...(databaseError ? { databaseError } : {}),
        redis: 'not used',
        nodes: { total: nodes.length, online, offline: nodes.length - online },
        connectedAgents: svc.hub ? nodes.filter((n) => svc.hub!.isConnected(n.metadata.name)).length : 0,
        services,
        uptime: Math.floor((svc.now() - svc.startedAt.getTime()) / 1000),
        startedAt: svc.startedAt.toISOString(),
      });
    },
  }),

  route({
    method: 'GET',
    path: '/api/admin/audit-logs',
    summary: 'The audit log, newest first (page backwards with before = the last id seen)',
    tag: 'admin',
    access: ADMIN,
    query: {
      userId: { type: 'string', maxLength: 128 },
      action: { type: 'string', maxLength: 128, description: 'An action such as server.start, or a family: server.*' },
      resourceType: { type: 'string', maxLength: 64 },
      resourceId: { type: 'string', maxLength: 253 },
      resourceUid: { type: 'string', maxLength: 64, description: 'The uid of the resource (tells a re-created server of the same name apart)' },
      facade: { type: 'string', maxLength: 32, description: 'The API the call came through: catalyst, kubernetes, sftp, …' },
      before: { type: 'string', maxLength: 32, description: 'Only entries older than this id' },
      limit: { type: 'integer', minimum: 1, maximum: 1000, description: 'default 100' },
    },
    handler: async ({ c, svc, query }) => {
      let before: number | undefined;
      if (query.before !== undefined) {
        before = Number(query.before);
        if (!Number.isInteger(before) || before < 1) throw badRequest(`query parameter before: must be an audit entry id (a positive integer), got "${String(query.before).slice(0, 50)}"`);
      }
      const entries = await svc.audit.list({
        userId: query.userId as string | undefined,
        action: query.action as string | undefined,
        resourceType: query.resourceType as string | undefined,
        resourceId: query.resourceId as string | undefined,
        resourceUid: query.resourceUid as string | undefined,
        facade: query.facade as string | undefined,
        before,
        limit: (query.limit as number | undefined) ?? 100,
      });
      return ok(c, entries);
    },
  }),
];
