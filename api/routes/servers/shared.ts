// Lookups the server routes share: lists cached by revision, and the detail view of one server.
import type { GameNode, GameServer, ServerTemplate } from '../../../crds/types.ts';
import { currentNode } from '../../../crds/placement.ts';
import type { ApiServices } from '../../http/services.ts';
import type { Principal } from '../../rbac/access.ts';
import { can } from '../../rbac/access.ts';
import { toCatalystServer } from '../../catalyst/servers.ts';

export async function templateMap(svc: ApiServices): Promise<Map<string, ServerTemplate>> {
  return new Map((await svc.servers.lists.list<ServerTemplate>('ServerTemplate')).map((t) => [t.metadata.name, t]));
}

export async function nodeMap(svc: ApiServices): Promise<Map<string, GameNode>> {
  return new Map((await svc.servers.lists.list<GameNode>('GameNode')).map((n) => [n.metadata.name, n]));
}

/** The server as one GET shows it (node and template embedded). */
export async function serverDetail(svc: ApiServices, server: GameServer, principal: Principal | undefined): Promise<Record<string, unknown>> {
  const template = await svc.ops.servers.template(server.spec?.templateRef ?? '');
  const nodeName = currentNode(server);
  const node = nodeName ? await svc.ops.servers.node(nodeName) : undefined;
  return toCatalystServer(server, { template, node, hub: svc.hub, detail: true, revealSecrets: !!principal && can(principal, 'server.update') });
}
