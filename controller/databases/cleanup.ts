// Deleting a server drops its databases on their hosts: the server databases are one of the
// ServerReaper's participants (controller/lifecycle/), so every delete path reaches them — a live
// delete, and the sweeps (at start, then periodically) for deletions while Gantry was down. A host that
// cannot be reached keeps the databases recorded as orphaned with the reason (a Warning event on the
// deleted server says why); their uid stays known, so every sweep tries again. The deletion itself is
// never held up by a database host.
import type { EventSink } from '../events/recorder.ts';
import type { GoneServer, PerServerState } from '../lifecycle/server-reaper.ts';
import type { Logger } from '../../lib/log.ts';
import type { DatabaseService } from './service.ts';

export interface ServerDatabasesOptions {
  service: DatabaseService;
  events?: EventSink;
  log: Logger;
}

export class ServerDatabases implements PerServerState {
  readonly stateName = 'server databases';

  constructor(private readonly opts: ServerDatabasesOptions) {}

  knownServerUids(): Promise<string[]> {
    return this.opts.service.serverUids();
  }

  async forgetServers(gone: readonly GoneServer[]): Promise<void> {
    for (const g of gone) {
      const r = await this.opts.service.forgetServer(g.uid);
      if (r.dropped) this.opts.log.info('dropped the databases of a deleted server', { dropped: r.dropped, serverUid: g.uid, ...(g.name ? { server: `${g.namespace}/${g.name}` } : {}) });
      if (!r.failed.length) continue;
      this.opts.log.warn('databases of a deleted server could not be dropped yet; retried at the next sweep', { serverUid: g.uid, failed: r.failed });
      if (g.name && this.opts.events) {
        const names = r.failed.map((f) => f.name).join(', ');
        await this.opts.events
          .record({ kind: 'GameServer', namespace: g.namespace, name: g.name, uid: g.uid }, 'Warning', 'DatabasesNotDropped', `databases ${names} could not be dropped (retried at every sweep): ${r.failed[0]!.error}`)
          .catch(() => undefined);
      }
    }
  }
}
