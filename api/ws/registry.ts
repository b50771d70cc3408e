// WebSocket endpoints by path: every upgrade of a listener goes through one registry, so each facade
// registers its own sockets (Catalyst's /ws, a panel's /compat/<panel>/ws, its monitor or terminal
// streams) and the agent hub its connect path, instead of a chain of `if`s in `gantry up`. A path
// no endpoint serves is refused with 404 before the upgrade.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { rejectUpgrade, requestPath } from '../../controller/hub/upgrade.ts';

export interface UpgradeHandler {
  /** Takes the upgrade request (accepts or refuses it). Must not reject. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void | Promise<void>;
}

export class SocketRegistry {
  private readonly byPath = new Map<string, { handler: UpgradeHandler; owner: string }>();

  /** Serves `path` (exact, without query) with `handler`; a path taken by another owner is refused. */
  register(path: string, handler: UpgradeHandler, owner: string): () => void {
    const taken = this.byPath.get(path);
    if (taken) throw new Error(`WebSocket path ${path} is already served by ${taken.owner}; ${owner} cannot take it`);
    this.byPath.set(path, { handler, owner });
    return () => {
      if (this.byPath.get(path)?.handler === handler) this.byPath.delete(path);
    };
  }

  /** The registered paths and who serves them. */
  endpoints(): { path: string; owner: string }[] {
    return [...this.byPath].map(([path, e]) => ({ path, owner: e.owner }));
  }

  /** For `server.on('upgrade', …)`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = requestPath(req);
    const e = this.byPath.get(path);
    if (!e) return rejectUpgrade(socket, 404, `no WebSocket endpoint at ${path}`);
    void e.handler.handleUpgrade(req, socket, head);
  }
}
