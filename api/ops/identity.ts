// How a facade's server ids map to GameServers. Catalyst addresses a server by metadata.name in one
// namespace; Pterodactyl-style panels use the uuid (metadata.uid), some accept either. A facade
// declares its resolver; the route pipeline loads `:serverId` through it, so no handler parses ids.
//
// Lookups by uid go through the shared GameServer informer's uid index (no store scan), then read the
// object from the store by name, so what a request acts on is never older than the store.
import type { GameServer } from '../../crds/types.ts';
import type { InformerSource } from '../../controller/runtime/controller.ts';
import type { ServerOps } from '../../controller/operations/servers.ts';

export interface ServerIdentity {
  /** The server this id names, or undefined (an id no server has is answered like a missing one). */
  resolve(id: string): Promise<GameServer | undefined>;
  /** The id this facade shows for a server (what resolve() accepts back). */
  idOf(server: GameServer): string;
}

const BY_UID = 'byUid';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Deps {
  servers: Pick<ServerOps, 'get'>;
  informers: InformerSource;
}

/** metadata.name in `namespace` (Catalyst). */
export function byName(d: Deps, namespace: string): ServerIdentity {
  return {
    resolve: (id) => (id && id.length <= 253 ? d.servers.get(namespace, id) : Promise.resolve(undefined)),
    idOf: (s) => s.metadata.name,
  };
}

/** metadata.uid, in `namespace` (undefined: any namespace). */
export function byUid(d: Deps, namespace?: string): ServerIdentity {
  const informer = d.informers.informer<GameServer>('GameServer', { [BY_UID]: (s: GameServer) => s.metadata.uid });
  return {
    async resolve(id) {
      if (!UUID.test(id)) return undefined;
      const cached = informer.byIndex(BY_UID, id.toLowerCase())[0];
      if (!cached || (namespace !== undefined && (cached.metadata.namespace ?? 'default') !== namespace)) return undefined;
      const fresh = await d.servers.get(cached.metadata.namespace ?? 'default', cached.metadata.name);
      return fresh?.metadata.uid === cached.metadata.uid ? fresh : undefined;
    },
    idOf: (s) => s.metadata.uid!,
  };
}

/** A uid when the id looks like one, else a name in `namespace`; shown as the uid. */
export function byUidOrName(d: Deps, namespace: string): ServerIdentity {
  const uid = byUid(d, namespace);
  const name = byName(d, namespace);
  return {
    resolve: async (id) => (UUID.test(id) ? ((await uid.resolve(id)) ?? name.resolve(id)) : name.resolve(id)),
    idOf: uid.idOf,
  };
}
