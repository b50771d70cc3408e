// Lookups and write helpers the server routes share.
import type { GameNode, GameServer, ServerTemplate } from '../../../crds/types.ts';
import { isStoreError } from '../../../controller/store/errors.ts';
import { allocatedOn, effectiveRequests, formatFree, formatQuantity, dimensionName, freeOf, nodeAllocatable, shortfalls } from '../../../controller/scheduling/resources.ts';
import type { ApiServices } from '../../http/services.ts';
import { badRequest, notFound } from '../../http/errors.ts';
import type { Principal } from '../../rbac/access.ts';
import { can } from '../../rbac/access.ts';
import { getOrUndefined } from '../../catalyst/common.ts';
import { toCatalystServer } from '../../catalyst/servers.ts';
import { currentNode } from '../../../crds/placement.ts';

export const findTemplate = (svc: ApiServices, name: string) => getOrUndefined<ServerTemplate>(svc.store, 'ServerTemplate', undefined, name);
export const findNode = (svc: ApiServices, name: string) => getOrUndefined<GameNode>(svc.store, 'GameNode', undefined, name);

export async function templateMap(svc: ApiServices): Promise<Map<string, ServerTemplate>> {
  return new Map((await svc.servers.lists.list<ServerTemplate>('ServerTemplate')).map((t) => [t.metadata.name, t]));
}

export async function nodeMap(svc: ApiServices): Promise<Map<string, GameNode>> {
  return new Map((await svc.servers.lists.list<GameNode>('GameNode')).map((n) => [n.metadata.name, n]));
}

/** The server as one GET shows it (node and template embedded). */
export async function serverDetail(svc: ApiServices, server: GameServer, principal: Principal | undefined): Promise<Record<string, unknown>> {
  const template = await findTemplate(svc, server.spec?.templateRef ?? '');
  const nodeName = currentNode(server);
  const node = nodeName ? await findNode(svc, nodeName) : undefined;
  return toCatalystServer(server, { template, node, hub: svc.hub, detail: true, revealSecrets: !!principal && can(principal, 'server.update') });
}

export async function reload(svc: ApiServices, name: string): Promise<GameServer> {
  const s = await svc.servers.find(name);
  if (!s) throw notFound(`server "${name}" not found`);
  return s;
}

/**
 * A read-modify-write of one server's spec with a resourceVersion precondition, retried on conflict:
 * for edits that replace a list (ports) or depend on the current value, where a blind merge patch
 * could undo a concurrent edit. `compute` may throw to refuse.
 */
export async function patchServer(svc: ApiServices, name: string, compute: (s: GameServer) => Record<string, unknown> | Promise<Record<string, unknown>>): Promise<GameServer> {
  for (let attempt = 0; ; attempt++) {
    const current = await reload(svc, name);
    const patch = await compute(current);
    try {
      return await svc.store.patch<GameServer>('GameServer', svc.servers.namespace, name, patch, { resourceVersion: current.metadata.resourceVersion });
    } catch (err) {
      // Status writes by the controller bump the version too; try again on the fresh object.
      if (isStoreError(err) && err.reason === 'Conflict' && attempt < 4) continue;
      throw err;
    }
  }
}

/** 400 "Node does not have enough resources: …" when `server` (as it would be) does not fit on `node`. */
export async function checkNodeFits(svc: ApiServices, server: GameServer, template: ServerTemplate, node: GameNode): Promise<void> {
  const nodeName = node.metadata.name;
  const [servers, templates] = await Promise.all([svc.servers.list(), templateMap(svc)]);
  const allocated = allocatedOn(nodeName, servers, templates, server);
  const free = freeOf(nodeAllocatable(node, svc.hub?.node(nodeName)?.health), allocated);
  const short = shortfalls(effectiveRequests(server, template), free, true);
  if (short.length) {
    const detail = short.map((s) => `needs ${formatQuantity(s.dimension, s.needs)} ${dimensionName(s.dimension)}, ${s.free === undefined ? 'unknown' : formatFree(s.dimension, s.free)} free`).join('; ');
    throw badRequest(`Node does not have enough resources: ${detail} on node ${nodeName}`, 'insufficient_resources');
  }
}
