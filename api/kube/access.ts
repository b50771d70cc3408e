// Who may do what through the Kubernetes dialect, with Gantry's RBAC (api/rbac/): the same answers
// the REST API gives, per verb and per object.
//
// - `resource.read` / `resource.write` (global) cover every kind: the dialect's superuser grants.
// - GameServers: visible to holders of a global server.read, their owner and subusers (grants);
//   an edit needs the permission of what it changes (state → server.start/stop, restartedAt →
//   server.restart, suspended → server.suspend, nodeName → server.transfer, resources and owner →
//   the global server.update, anything else → server.update on the server); delete → server.delete.
// - Backups, Restores and Schedules belong to the server of their spec.serverRef.
// - Templates, nodes and alert rules need their global permissions.
// - Finalizers and owner references, and every status write, need resource.write: removing the
//   cleanup finalizer would leave a container running with nobody to remove it.
// An object the caller may not read is answered NotFound, as the REST API does, so names of other
// users' servers cannot be probed; one they may read but not change is Forbidden.
import type { KindInfo } from '../../crds/registry.ts';
import type { Resource } from '../../crds/resource.ts';
import type { GameServer } from '../../crds/types.ts';
import { isStoreError, notFound } from '../../controller/store/errors.ts';
import { deepEqual } from '../../controller/store/merge-patch.ts';
import type { ResourceStore } from '../../controller/store/types.ts';
import { can, type Principal, type ServerAccess } from '../rbac/access.ts';
import { kubeError } from './status.ts';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

interface KindRule {
  read: string;
  create: string;
  update: string;
  delete: string;
  /** How an object names its GameServer (itself, or spec.serverRef); absent for global kinds. */
  server?: (obj: Resource) => string | undefined;
}

const serverRef = (obj: Resource) => (typeof obj.spec?.serverRef === 'string' ? obj.spec.serverRef : undefined);

const RULES: Record<string, KindRule> = {
  GameServer: { read: 'server.read', create: 'server.create', update: 'server.update', delete: 'server.delete', server: (o) => o.metadata.name },
  Backup: { read: 'backup.read', create: 'backup.create', update: 'backup.create', delete: 'backup.delete', server: serverRef },
  Restore: { read: 'backup.read', create: 'backup.restore', update: 'backup.restore', delete: 'backup.restore', server: serverRef },
  Schedule: { read: 'task.read', create: 'task.create', update: 'task.update', delete: 'task.delete', server: serverRef },
  ServerTemplate: { read: 'template.read', create: 'template.create', update: 'template.update', delete: 'template.delete' },
  GameNode: { read: 'node.read', create: 'node.create', update: 'node.update', delete: 'node.delete' },
  AlertRule: { read: 'alert.read', create: 'alert.rules', update: 'alert.rules', delete: 'alert.rules' },
};

/** GameServer spec fields an owner or subuser edits with a permission of its own (the REST API's actions). */
const SPEC_PERMISSIONS: Record<string, (cur: unknown, next: unknown) => { perm: string; global?: boolean }> = {
  state: (_c, n) => ({ perm: n === 'Running' ? 'server.start' : 'server.stop' }),
  restartedAt: () => ({ perm: 'server.restart' }),
  crashCountResetAt: () => ({ perm: 'server.restart' }),
  killedAt: () => ({ perm: 'server.kill' }),
  reinstalledAt: () => ({ perm: 'server.install' }),
  suspended: () => ({ perm: 'server.suspend', global: true }),
  suspendReason: () => ({ perm: 'server.suspend', global: true }),
  nodeName: () => ({ perm: 'server.transfer', global: true }),
  // Owners may not raise their own limits or hand the server to someone else.
  resources: () => ({ perm: 'server.update', global: true }),
  owner: () => ({ perm: 'server.update', global: true }),
};

export interface Decision {
  /** The permission that allowed it (the audit action). */
  permission: string;
}

export class KubeAccess {
  constructor(
    private readonly store: ResourceStore,
    private readonly access: ServerAccess,
  ) {}

  private rule(info: KindInfo): KindRule {
    return RULES[info.kind] ?? { read: 'resource.read', create: 'resource.write', update: 'resource.write', delete: 'resource.write' };
  }

  /** True when the caller reads every object of the kind (no per-object filtering needed). */
  readsAll(p: Principal, info: KindInfo): boolean {
    return can(p, 'resource.read') || can(p, this.rule(info).read);
  }

  /**
   * Reads of a kind without per-object visibility (templates, nodes, alert rules) need its global
   * permission: without it a list or get is Forbidden, as an apiserver answers, not an empty list.
   */
  requireKindRead(p: Principal, info: KindInfo, verb: Verb, namespace?: string): void {
    if (this.readsAll(p, info) || this.rule(info).server) return;
    const where = info.scope === 'Namespaced' && namespace ? ` in the namespace "${namespace}"` : ' at the cluster scope';
    throw kubeError('Forbidden', `${info.plural}.${info.group} is forbidden: User "${p.username}" cannot ${verb} resource "${info.plural}" in API group "${info.group}"${where} (requires ${this.rule(info).read})`, { group: info.group, kind: info.plural });
  }

  /** The GameServer an object belongs to, undefined when it has none or it does not exist. */
  async serverOf(info: KindInfo, obj: Resource, cache?: Map<string, GameServer | null>): Promise<GameServer | undefined> {
    const rule = this.rule(info);
    if (!rule.server) return undefined;
    if (info.kind === 'GameServer') return obj as unknown as GameServer;
    const name = rule.server(obj);
    if (!name) return undefined;
    const ns = obj.metadata.namespace ?? 'default';
    const key = `${ns}/${name}`;
    if (cache?.has(key)) return cache.get(key) ?? undefined;
    let server: GameServer | undefined;
    try {
      server = await this.store.get<GameServer>('GameServer', ns, name);
    } catch (err) {
      if (!isStoreError(err, 'NotFound')) throw err;
    }
    cache?.set(key, server ?? null);
    return server;
  }

  async canRead(p: Principal, info: KindInfo, obj: Resource, cache?: Map<string, GameServer | null>): Promise<boolean> {
    if (this.readsAll(p, info)) return true;
    const server = await this.serverOf(info, obj, cache);
    return !!server && this.access.can(p, server, this.rule(info).read);
  }

  /** Answers NotFound for an object the caller may not read (as if it did not exist). */
  async requireRead(p: Principal, info: KindInfo, obj: Resource): Promise<void> {
    if (!(await this.canRead(p, info, obj))) throw notFound(info.kind, obj.metadata.name);
  }

  /**
   * Authorises a write: `cur` is the stored object (undefined for create), `next` what it becomes
   * (undefined for delete). Throws NotFound/Forbidden; returns the permission used.
   */
  async authorizeWrite(p: Principal, info: KindInfo, verb: Verb, cur: Resource | undefined, next: Resource | undefined): Promise<Decision> {
    if (can(p, 'resource.write')) return { permission: 'resource.write' };
    const rule = this.rule(info);
    if (cur) await this.requireRead(p, info, cur);
    const forbid = (perm: string, what = '') =>
      kubeError('Forbidden', `${info.plural}.${info.group} "${(next ?? cur)!.metadata.name}" is forbidden: User "${p.username}" cannot ${verb} resource "${info.plural}" in API group "${info.group}"${info.scope === 'Namespaced' ? ` in the namespace "${(next ?? cur)!.metadata.namespace ?? 'default'}"` : ''}${what} (requires ${perm})`, { name: (next ?? cur)!.metadata.name, group: info.group, kind: info.plural });

    if (cur && next && !deepEqual(cur.metadata.finalizers ?? [], next.metadata.finalizers ?? [])) throw forbid('resource.write', ': finalizers');
    if (cur && next && !deepEqual(cur.metadata.ownerReferences ?? [], next.metadata.ownerReferences ?? [])) throw forbid('resource.write', ': ownerReferences');
    if (!cur && next && (next.metadata.finalizers?.length || next.metadata.ownerReferences?.length)) {
      throw forbid('resource.write', ': finalizers and ownerReferences are set by controllers');
    }

    const perm = verb === 'create' ? rule.create : verb === 'delete' ? rule.delete : rule.update;
    if (!rule.server) {
      if (!can(p, perm)) throw forbid(perm);
      return { permission: perm };
    }

    if (info.kind === 'GameServer') return this.authorizeServerWrite(p, info, verb, cur as GameServer | undefined, next as GameServer | undefined, forbid);

    // Backups, restores, schedules: the permission on the server they belong to (before and after).
    for (const obj of [cur, next]) {
      if (!obj) continue;
      const server = await this.serverOf(info, obj);
      if (can(p, perm)) continue;
      if (!server || !this.access.can(p, server, perm)) throw forbid(perm, server ? '' : `: no GameServer "${rule.server(obj) ?? ''}" the caller may use`);
    }
    return { permission: perm };
  }

  /** Status is the controllers' to write: through the dialect only with resource.write. */
  async authorizeStatusWrite(p: Principal, info: KindInfo, verb: Verb, cur: Resource): Promise<string> {
    if (can(p, 'resource.write')) return 'resource.write';
    await this.requireRead(p, info, cur);
    throw kubeError('Forbidden', `${info.plural}.${info.group} "${cur.metadata.name}" is forbidden: User "${p.username}" cannot ${verb} resource "${info.plural}/status" in API group "${info.group}" (status is written by Gantry's controllers; requires resource.write)`, { name: cur.metadata.name, group: info.group, kind: info.plural });
  }

  private authorizeServerWrite(
    p: Principal,
    info: KindInfo,
    verb: Verb,
    cur: GameServer | undefined,
    next: GameServer | undefined,
    forbid: (perm: string, what?: string) => Error,
  ): Decision {
    if (verb === 'create') {
      if (!can(p, 'server.create')) throw forbid('server.create');
      const owner = next!.spec?.owner;
      if (owner !== undefined && owner !== p.userId && !can(p, 'server.update')) throw forbid('server.update', ': spec.owner names another user');
      if (next!.spec?.suspended && !can(p, 'server.suspend')) throw forbid('server.suspend');
      return { permission: 'server.create' };
    }
    if (verb === 'delete') {
      if (!this.access.can(p, cur!, 'server.delete', { ownerAllowed: false })) throw forbid('server.delete');
      return { permission: 'server.delete' };
    }
    const needed = new Map<string, boolean>();
    const a = (cur!.spec ?? {}) as unknown as Record<string, unknown>;
    const b = (next!.spec ?? {}) as unknown as Record<string, unknown>;
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (deepEqual(a[key], b[key])) continue;
      const special = SPEC_PERMISSIONS[key]?.(a[key], b[key]) ?? { perm: 'server.update' };
      needed.set(special.perm, (needed.get(special.perm) ?? false) || !!special.global);
    }
    if (!deepEqual(cur!.metadata.labels ?? {}, next!.metadata.labels ?? {}) || !deepEqual(cur!.metadata.annotations ?? {}, next!.metadata.annotations ?? {})) {
      needed.set('server.update', needed.get('server.update') ?? false);
    }
    if (!needed.size) needed.set('server.update', false);
    for (const [perm, global] of needed) {
      const ok = global ? can(p, perm) : this.access.can(p, cur!, perm);
      if (!ok) throw forbid(perm);
    }
    return { permission: [...needed.keys()].join(',') };
  }
}
