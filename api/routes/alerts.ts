// Alerts (Catalyst "Alerts"): the fired alerts the AlertService keeps, and the rules ↔ AlertRule
// resources (cluster-scoped).
//
// Who sees which alert: a global alert.read grant sees all; anyone else sees the alerts of the
// servers (in the Catalyst namespace) where they hold alert.read as owner or subuser — node alerts
// and alerts of servers they cannot see are not theirs. Resolving needs alert.resolve the same way.
// An alert of a server the caller cannot see is answered 404, like the server.
//
// Without an AlertService (an API opened without the controller) there are no alerts: lists are
// empty and ids are not found.
import type { AlertRule, AlertRuleSpec, GameServer } from '../../crds/types.ts';
import type { Alert, AlertFilter, AlertStats } from '../../controller/alerts/store.ts';
import { AlertError } from '../../controller/alerts/store.ts';
import { route, ok, done, type RouteSpec, type JsonSchema } from '../http/route.ts';
import { ApiError, badRequest, conflict, forbidden, notFound } from '../http/errors.ts';
import { can, type Principal } from '../rbac/access.ts';
import { getOrUndefined, resourceName } from '../catalyst/common.ts';
import type { ApiServices } from '../http/services.ts';

const TYPES = ['resource_threshold', 'node_offline', 'server_crashed'] as const;
const SEVERITIES = ['info', 'warning', 'critical'] as const;
/** Alerts read per page while filtering by visibility. */
const PAGE = 1000;

function rethrow(err: unknown): never {
  if (err instanceof AlertError) throw new ApiError(err.status, err.message, err.status === 404 ? 'not_found' : 'invalid_query');
  throw err;
}

/** The alert without Gantry's bookkeeping of namespaces; rule and target stay (they explain it). */
function toCatalystAlert(a: Alert): Record<string, unknown> {
  const { serverNamespace: _ns, ...rest } = a;
  return rest;
}

/** Decides per alert whether the caller holds `permission` on its server (servers loaded once). */
async function alertGate(svc: ApiServices, principal: Principal, permission: string): Promise<Gate> {
  if (can(principal, permission)) return () => 'yes';
  const servers = new Map((await svc.servers.list()).map((s) => [s.metadata.name, s]));
  return (a) => {
    const server = a.serverId && (a.serverNamespace ?? svc.servers.namespace) === svc.servers.namespace ? servers.get(a.serverId) : undefined;
    // A server deleted and created again under the same name is another server: its alerts are not.
    if (!server || (a.serverUid && server.metadata.uid && a.serverUid !== server.metadata.uid)) return 'hidden';
    if (svc.access.can(principal, server, permission)) return 'yes';
    return svc.access.visible(principal, server) ? 'forbidden' : 'hidden';
  };
}

/** Every alert matching the filter that the caller may read, newest first, paging the store. */
async function* visibleAlerts(svc: ApiServices, principal: Principal, filter: AlertFilter): AsyncGenerator<Alert> {
  if (!svc.alerts) return;
  const gate = await alertGate(svc, principal, 'alert.read');
  for (let offset = 0; ; offset += PAGE) {
    const page = await svc.alerts.list({ ...filter, limit: PAGE, offset }).catch(rethrow);
    for (const a of page) if (gate(a) === 'yes') yield a;
    if (page.length < PAGE) return;
  }
}

type Gate = (a: Alert) => 'yes' | 'hidden' | 'forbidden';

/** The alert, if the caller holds `permission` on it: 404 when they cannot see it, 403 when they can. */
async function loadAlert(svc: ApiServices, principal: Principal, id: string, permission: string, gates?: { act: Gate; read: Gate }): Promise<Alert> {
  const missing = () => notFound(`Alert not found: "${id.slice(0, 100)}"`);
  if (!svc.alerts) throw missing();
  const a = await svc.alerts.get(id).catch(rethrow);
  const verdict = (gates?.act ?? (await alertGate(svc, principal, permission)))(a);
  if (verdict === 'yes') return a;
  if (verdict === 'forbidden' || (gates?.read ?? (await alertGate(svc, principal, 'alert.read')))(a) === 'yes') {
    throw forbidden(`You do not have permission to perform this action (requires ${permission} on server ${a.serverId})`, 'missing_permission');
  }
  throw missing();
}

const emptyStats = (): AlertStats => ({
  total: 0,
  unresolved: 0,
  byType: Object.fromEntries(TYPES.map((t) => [t, 0])),
  bySeverity: Object.fromEntries(SEVERITIES.map((t) => [t, 0])),
});

// ---- alert rules ↔ AlertRule ----------------------------------------------------------------------

export interface CatalystAlertRule {
  id: string;
  name: string;
  description: string | null;
  type: AlertRuleSpec['type'];
  target: 'server' | 'node';
  targetId: string;
  selector: Record<string, string> | null;
  conditions: { metric: string; operator: string; value: number; duration: number } | null;
  severity: string;
  actions: { type: 'webhook'; url: string; format: string }[];
  cooldownSeconds: number;
  enabled: boolean;
  createdAt: string | null;
  firing: number;
  lastFiredAt: string | null;
  lastEvaluatedAt: string | null;
  message: string | null;
}

const defaultKind = (type: AlertRuleSpec['type']) => (type === 'node_offline' ? 'GameNode' : 'GameServer');

export function toCatalystRule(r: AlertRule): CatalystAlertRule {
  const spec = r.spec!;
  const kind = spec.target?.kind ?? defaultKind(spec.type);
  const cond = spec.condition;
  return {
    id: r.metadata.name,
    name: spec.displayName ?? r.metadata.name,
    description: spec.description ?? null,
    type: spec.type,
    target: kind === 'GameNode' ? 'node' : 'server',
    targetId: spec.target?.name ?? '*',
    selector: spec.selector ?? null,
    conditions: cond ? { metric: cond.metric, operator: cond.operator, value: cond.value, duration: cond.durationSeconds ?? 0 } : null,
    severity: spec.severity ?? 'warning',
    actions: (spec.actions ?? []).map((a) => ({ type: 'webhook', url: a.url, format: a.format ?? 'generic' })),
    cooldownSeconds: spec.cooldownSeconds ?? 300,
    enabled: spec.enabled ?? true,
    createdAt: r.metadata.creationTimestamp ?? null,
    firing: r.status?.firing ?? 0,
    lastFiredAt: r.status?.lastFiredAt ?? null,
    lastEvaluatedAt: r.status?.lastEvaluated ?? null,
    message: r.status?.message ?? null,
  };
}

function ruleBodySchema(create: boolean): JsonSchema {
  return {
    type: 'object',
    additionalProperties: false,
    ...(create ? { required: ['name', 'type'] } : {}),
    properties: {
      ...(create ? { id: { type: 'string', minLength: 1, maxLength: 63, description: 'Rule id (a DNS label); derived from name when left out' } } : {}),
      name: { type: 'string', minLength: 1, maxLength: 128 },
      description: { type: ['string', 'null'], maxLength: 4096 },
      type: { type: 'string', enum: [...TYPES] },
      target: { type: 'string', enum: ['server', 'node'], description: 'default: node for node_offline, else server' },
      targetId: { type: 'string', minLength: 1, maxLength: 253, description: 'One server or node id, or * for all' },
      selector: { type: ['object', 'null'], maxProperties: 32, additionalProperties: { type: 'string', maxLength: 63 }, description: 'Labels the targets must carry' },
      conditions: {
        type: ['object', 'null'],
        required: ['metric', 'operator', 'value'],
        additionalProperties: false,
        properties: {
          metric: { type: 'string', enum: ['cpu', 'memory', 'disk', 'network_rx', 'network_tx'] },
          operator: { type: 'string', enum: ['>', '>=', '<', '<=', '=='] },
          value: { type: 'number' },
          duration: { type: 'integer', minimum: 0, maximum: 86400, description: 'Seconds the condition must hold' },
        },
      },
      severity: { type: 'string', enum: [...SEVERITIES] },
      actions: {
        type: 'array',
        maxItems: 16,
        items: {
          type: 'object',
          required: ['url'],
          additionalProperties: false,
          properties: {
            type: { type: 'string', enum: ['webhook'] },
            url: { type: 'string', maxLength: 2048, pattern: '^https?://\\S+$' },
            format: { type: 'string', enum: ['generic', 'discord', 'slack'] },
          },
        },
      },
      cooldownSeconds: { type: 'integer', minimum: 0, maximum: 604800 },
      enabled: { type: 'boolean' },
    },
  };
}

interface RuleBody {
  id?: string;
  name?: string;
  description?: string | null;
  type?: AlertRuleSpec['type'];
  target?: 'server' | 'node';
  targetId?: string;
  selector?: Record<string, string> | null;
  conditions?: { metric: NonNullable<AlertRuleSpec['condition']>['metric']; operator: NonNullable<AlertRuleSpec['condition']>['operator']; value: number; duration?: number } | null;
  severity?: AlertRuleSpec['severity'];
  actions?: { type?: 'webhook'; url: string; format?: 'generic' | 'discord' | 'slack' }[];
  cooldownSeconds?: number;
  enabled?: boolean;
}

/** The rule's spec from a Catalyst body over the current spec (fields left out are kept). */
function ruleSpec(b: RuleBody, current: AlertRuleSpec | undefined, namespace: string): AlertRuleSpec {
  const spec: AlertRuleSpec = current ? structuredClone(current) : { type: b.type! };
  if (b.type !== undefined) spec.type = b.type;
  if (b.name !== undefined) spec.displayName = b.name;
  if (b.description !== undefined) {
    if (b.description === null) delete spec.description;
    else spec.description = b.description;
  }
  if (b.target !== undefined || b.targetId !== undefined || b.type !== undefined) {
    // A new type of a kind-bound sort (node_offline, server_crashed) brings its kind along.
    const kind =
      b.target !== undefined ? (b.target === 'node' ? 'GameNode' : 'GameServer') : b.type !== undefined && b.type !== 'resource_threshold' ? defaultKind(b.type) : (spec.target?.kind ?? defaultKind(spec.type));
    if (spec.type === 'node_offline' && kind !== 'GameNode') throw badRequest('target: a node_offline rule targets nodes ("node")', 'invalid_body');
    if (spec.type === 'server_crashed' && kind !== 'GameServer') throw badRequest('target: a server_crashed rule targets servers ("server")', 'invalid_body');
    const previousName = spec.target?.kind === kind ? spec.target.name : undefined;
    const name = b.targetId !== undefined ? (b.targetId === '*' ? undefined : b.targetId) : previousName;
    // Server ids are names in the Catalyst namespace; a rule for "every server" covers every namespace.
    spec.target = { kind, ...(name ? { name } : {}), ...(kind === 'GameServer' && name ? { namespace } : {}) };
  }
  if (b.selector !== undefined) {
    if (b.selector === null || !Object.keys(b.selector).length) delete spec.selector;
    else spec.selector = b.selector;
  }
  if (b.conditions !== undefined) {
    if (b.conditions === null) delete spec.condition;
    else spec.condition = { metric: b.conditions.metric, operator: b.conditions.operator, value: b.conditions.value, durationSeconds: b.conditions.duration ?? 0 };
  }
  if (spec.type === 'resource_threshold' && !spec.condition) throw badRequest('conditions: is required for a resource_threshold rule ({metric, operator, value, duration})', 'invalid_body');
  if (b.severity !== undefined) spec.severity = b.severity;
  if (b.actions !== undefined) spec.actions = b.actions.map((a) => ({ type: 'webhook' as const, url: a.url, format: a.format ?? 'generic' }));
  if (b.cooldownSeconds !== undefined) spec.cooldownSeconds = b.cooldownSeconds;
  if (b.enabled !== undefined) spec.enabled = b.enabled;
  return spec;
}

async function loadRule(svc: ApiServices, id: string): Promise<AlertRule> {
  const r = await getOrUndefined<AlertRule>(svc.store, 'AlertRule', undefined, id);
  if (!r || !r.spec) throw notFound(`Alert rule not found: "${id.slice(0, 100)}"`);
  return r;
}

const alertQuery = {
  serverId: { type: 'string', maxLength: 253, description: 'A server id (or uid)' },
  nodeId: { type: 'string', maxLength: 253 },
  type: { type: 'string', enum: [...TYPES] },
  severity: { type: 'string', enum: [...SEVERITIES] },
  resolved: { type: 'boolean' },
  limit: { type: 'integer', minimum: 1, maximum: 1000, description: 'default 100' },
  offset: { type: 'integer', minimum: 0 },
};

export const alertRoutes: readonly RouteSpec[] = [
  // Literal paths before /api/alerts/:alertId.
  route({
    method: 'GET',
    path: '/api/alerts/stats',
    summary: 'Alert counts: total, unresolved, by type and severity (of the alerts the caller may see)',
    tag: 'alerts',
    access: 'authenticated',
    handler: async ({ c, svc, principal }) => {
      if (!svc.alerts) return ok(c, emptyStats());
      if (can(principal!, 'alert.read')) return ok(c, await svc.alerts.stats());
      const s = emptyStats();
      for await (const a of visibleAlerts(svc, principal!, {})) {
        s.total++;
        if (!a.resolved) s.unresolved++;
        s.byType[a.type] = (s.byType[a.type] ?? 0) + 1;
        s.bySeverity[a.severity] = (s.bySeverity[a.severity] ?? 0) + 1;
      }
      return ok(c, s);
    },
  }),

  route({
    method: 'POST',
    path: '/api/alerts/bulk-resolve',
    summary: 'Resolve several alerts; all or none (an id the caller may not resolve refuses the request)',
    tag: 'alerts',
    access: 'authenticated',
    audit: 'alert.resolve',
    body: {
      type: 'object',
      required: ['alertIds'],
      additionalProperties: false,
      properties: { alertIds: { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'string', minLength: 1, maxLength: 64 } } },
    },
    handler: async ({ c, svc, principal, body, audit }) => {
      const ids = [...new Set((body as { alertIds: string[] }).alertIds)];
      audit.resourceType = 'alert';
      audit.metadata.alertIds = ids.slice(0, 100);
      if (!svc.alerts) throw notFound(`Alert not found: "${ids[0]!.slice(0, 100)}"`);
      // Every id is checked before any is resolved, so a refusal leaves nothing half done.
      const gates = { act: await alertGate(svc, principal!, 'alert.resolve'), read: await alertGate(svc, principal!, 'alert.read') };
      for (const id of ids) await loadAlert(svc, principal!, id, 'alert.resolve', gates);
      const resolved = await svc.alerts.bulkResolve(ids, principal!.username).catch(rethrow);
      return c.json({ success: true, resolved: resolved.length, data: resolved.map(toCatalystAlert) }, 200);
    },
  }),

  route({
    method: 'GET',
    path: '/api/alerts',
    summary: 'List alerts, newest first (those of servers where the caller holds alert.read)',
    tag: 'alerts',
    access: 'authenticated',
    query: alertQuery,
    handler: async ({ c, svc, principal, query }) => {
      if (!svc.alerts) return ok(c, []);
      const filter: AlertFilter = {};
      for (const k of ['serverId', 'nodeId', 'type', 'severity', 'resolved'] as const) if (query[k] !== undefined) (filter as Record<string, unknown>)[k] = query[k];
      const limit = (query.limit as number | undefined) ?? 100;
      const offset = (query.offset as number | undefined) ?? 0;
      if (query.serverId !== undefined) {
        const server: GameServer | undefined = await svc.servers.find(query.serverId as string);
        // Filtering by a server the caller cannot see answers like that server's own routes.
        if (!can(principal!, 'alert.read')) {
          if (!server) throw notFound(`server "${String(query.serverId).slice(0, 100)}" not found`);
          svc.access.check(principal!, server, 'alert.read');
        }
        // The server of that name now, not an earlier one deleted under the same name (whose alerts
        // stay listed by its uid, or by the name while no server has it).
        if (server?.metadata.uid) {
          delete filter.serverId;
          filter.server = { name: server.metadata.name, uid: server.metadata.uid };
        }
      }
      if (can(principal!, 'alert.read')) return ok(c, (await svc.alerts.list({ ...filter, limit, offset }).catch(rethrow)).map(toCatalystAlert));
      const out: Alert[] = [];
      let skipped = 0;
      for await (const a of visibleAlerts(svc, principal!, filter)) {
        if (skipped < offset) skipped++;
        else if (out.push(a) >= limit) break;
      }
      return ok(c, out.map(toCatalystAlert));
    },
  }),

  route({
    method: 'GET',
    path: '/api/alerts/:alertId',
    summary: 'Get one alert',
    tag: 'alerts',
    access: 'authenticated',
    handler: async ({ c, svc, principal, params }) => ok(c, toCatalystAlert(await loadAlert(svc, principal!, params.alertId!, 'alert.read'))),
  }),

  route({
    method: 'POST',
    path: '/api/alerts/:alertId/resolve',
    summary: 'Resolve an alert by hand (no new alert while the same condition keeps holding)',
    tag: 'alerts',
    access: 'authenticated',
    audit: 'alert.resolve',
    handler: async ({ c, svc, principal, params, audit }) => {
      audit.resourceType = 'alert';
      audit.resourceId = params.alertId;
      await loadAlert(svc, principal!, params.alertId!, 'alert.resolve');
      const a = await svc.alerts!.resolve(params.alertId!, principal!.username).catch(rethrow);
      return done(c, 'Alert resolved', { data: toCatalystAlert(a) });
    },
  }),

  // ---- rules ----
  route({
    method: 'GET',
    path: '/api/alert-rules',
    summary: 'List alert rules',
    tag: 'alerts',
    access: { permission: 'alert.rules' },
    handler: async ({ c, svc }) => ok(c, (await svc.store.list<AlertRule>('AlertRule')).items.filter((r) => r.spec).map(toCatalystRule)),
  }),

  route({
    method: 'GET',
    path: '/api/alert-rules/:ruleId',
    summary: 'Get one alert rule, with whether it fires now',
    tag: 'alerts',
    access: { permission: 'alert.rules' },
    handler: async ({ c, svc, params }) => ok(c, toCatalystRule(await loadRule(svc, params.ruleId!))),
  }),

  route({
    method: 'POST',
    path: '/api/alert-rules',
    summary: 'Create an alert rule (an AlertRule resource; id derived from name unless given)',
    tag: 'alerts',
    access: { permission: 'alert.rules' },
    body: ruleBodySchema(true),
    responses: { 201: 'Created', 409: 'A rule with that id exists' },
    handler: async ({ c, svc, body, audit }) => {
      const b = body as RuleBody;
      const name = resourceName('alert rule', b.id, b.name!);
      audit.resourceType = 'alert-rule';
      audit.resourceId = name;
      const spec = ruleSpec(b, undefined, svc.servers.namespace);
      if (await getOrUndefined(svc.store, 'AlertRule', undefined, name)) throw conflict(`An alert rule with id "${name}" already exists; choose another name or give an id`, 'already_exists');
      const created = await svc.store.create<AlertRule>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'AlertRule', metadata: { name }, spec });
      return ok(c, toCatalystRule(created), 201);
    },
  }),

  route({
    method: 'PUT',
    path: '/api/alert-rules/:ruleId',
    summary: 'Change an alert rule (fields left out are kept)',
    tag: 'alerts',
    access: { permission: 'alert.rules' },
    body: ruleBodySchema(false),
    handler: async ({ c, svc, body, params, audit }) => {
      audit.resourceType = 'alert-rule';
      audit.resourceId = params.ruleId;
      const current = await loadRule(svc, params.ruleId!);
      const spec = ruleSpec(body as RuleBody, current.spec, svc.servers.namespace);
      // A whole-spec update against the version read: a concurrent edit answers 409, never lost.
      const updated = await svc.store.update<AlertRule>({ ...current, spec });
      return ok(c, toCatalystRule(updated));
    },
  }),

  route({
    method: 'DELETE',
    path: '/api/alert-rules/:ruleId',
    summary: 'Delete an alert rule (its open alerts resolve)',
    tag: 'alerts',
    access: { permission: 'alert.rules' },
    handler: async ({ c, svc, params, audit }) => {
      audit.resourceType = 'alert-rule';
      audit.resourceId = params.ruleId;
      await loadRule(svc, params.ruleId!);
      await svc.store.delete('AlertRule', undefined, params.ruleId!);
      return done(c, 'Alert rule deleted');
    },
  }),
];
