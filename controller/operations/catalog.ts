// Node and template operations: create (the name must be free), update, delete (refused while servers
// use them). Every namespace's servers count: kubectl and manifests place servers too.
import type { GameNode, GameServer, ServerTemplate } from '../../crds/types.ts';
import { isOnNode } from '../../crds/placement.ts';
import type { ResourceStore } from '../store/types.ts';
import { conflict, invalid, notFound } from './errors.ts';
import { getOrUndefined } from './lookup.ts';

const listNames = (servers: GameServer[]) => `${servers.slice(0, 10).map((s) => s.metadata.name).join(', ')}${servers.length > 10 ? ', …' : ''}`;

export class NodeOps {
  constructor(private readonly d: { store: ResourceStore }) {}

  async require(name: string): Promise<GameNode> {
    const n = await getOrUndefined<GameNode>(this.d.store, 'GameNode', undefined, name);
    if (!n) throw notFound(`Node not found: "${name}"`);
    return n;
  }

  async create(node: GameNode): Promise<GameNode> {
    if (await getOrUndefined(this.d.store, 'GameNode', undefined, node.metadata.name)) throw conflict(`A node with id "${node.metadata.name}" already exists; choose another name or give an id`, 'already_exists');
    return this.d.store.create<GameNode>(node);
  }

  async update(name: string, spec: Record<string, unknown>): Promise<GameNode> {
    await this.require(name);
    return this.d.store.patch<GameNode>('GameNode', undefined, name, { spec });
  }

  /** The servers bound to the node or holding data there. */
  async serversOn(name: string): Promise<GameServer[]> {
    return (await this.d.store.list<GameServer>('GameServer')).items.filter((s) => isOnNode(s, name));
  }

  /** Deletes a node no server is on (the enrolment revokes its credential and disconnects its agent). */
  async delete(node: GameNode): Promise<void> {
    const on = await this.serversOn(node.metadata.name);
    if (on.length) throw invalid(`Cannot delete node with active servers (${on.length}: ${listNames(on)})`, 'node_has_servers');
    await this.d.store.delete('GameNode', undefined, node.metadata.name, { resourceVersion: node.metadata.resourceVersion }).catch(async (err) => {
      // Heartbeat status writes bump the version; the servers check above is what the precondition guards.
      if ((err as { reason?: string }).reason !== 'Conflict') throw err;
      await this.d.store.delete('GameNode', undefined, node.metadata.name);
    });
  }
}

export class TemplateOps {
  constructor(private readonly d: { store: ResourceStore }) {}

  async require(name: string): Promise<ServerTemplate> {
    const t = await getOrUndefined<ServerTemplate>(this.d.store, 'ServerTemplate', undefined, name);
    if (!t) throw notFound(`Template not found: "${name}"`);
    return t;
  }

  async create(t: ServerTemplate): Promise<ServerTemplate> {
    if (await getOrUndefined(this.d.store, 'ServerTemplate', undefined, t.metadata.name)) throw conflict(`A template with id "${t.metadata.name}" already exists; choose another name or give an id`, 'already_exists');
    return this.d.store.create<ServerTemplate>(t);
  }

  /** Replaces the spec; running servers pick changes up at their next restart. */
  replaceSpec(current: ServerTemplate, spec: ServerTemplate['spec']): Promise<ServerTemplate> {
    return this.d.store.update<ServerTemplate>({ ...current, spec });
  }

  async usersOf(name: string): Promise<GameServer[]> {
    return (await this.d.store.list<GameServer>('GameServer')).items.filter((s) => s.spec?.templateRef === name);
  }

  /** Deletes a template no server uses. */
  async delete(t: ServerTemplate): Promise<void> {
    const users = await this.usersOf(t.metadata.name);
    if (users.length) throw conflict(`Cannot delete template used by ${users.length} server(s): ${listNames(users)}`, 'template_in_use');
    await this.d.store.delete('ServerTemplate', undefined, t.metadata.name, { resourceVersion: t.metadata.resourceVersion });
  }
}
