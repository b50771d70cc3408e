// What dies with a GameServer. State that is not a resource but belongs to one server — subuser grants,
// the hub's console buffer and latest stats, metrics history series, open alerts, live /ws
// subscriptions and SFTP sessions — is keyed by the server's uid (a server deleted and created again
// under the same name has another uid, so nothing of the old one can attach to the new one) and is
// dropped here, the one place every delete reaches:
//
// - live: the shared GameServer informer's delete (a Catalyst DELETE, kubectl or `gantry delete`, a
//   manifests prune, an owner-reference cascade — they all end in the store removing the object, and a
//   relist reports deletions a dropped watch missed);
// - at once: an operation that removed the object itself (no finalizer held it) calls serverGone(), so
//   its answer already reflects it;
// - sweep: at start (after the informer synced) and periodically, every participant's uids that no
//   longer name a stored GameServer are forgotten — deletions while Gantry was down, or a kill -9
//   between the store's delete and the forget.
//
// The sweep collects each participant's uids BEFORE listing the store: a uid known then belonged to a
// server that existed then, so one missing from the later list was deleted; a server created meanwhile
// cannot be swept by mistake.
import type { GameServer } from '../../crds/types.ts';
import { rootLogger, type Logger } from '../../lib/log.ts';
import type { Informer } from '../runtime/informer.ts';
import type { ResourceStore } from '../store/types.ts';

/** A server that is gone. namespace/name are known for live deletes, not for sweeps. */
export interface GoneServer {
  uid: string;
  namespace?: string;
  name?: string;
}

/** Something that keeps state per server uid and must drop it when the server goes. */
export interface PerServerState {
  /** Names it in logs. */
  readonly stateName: string;
  /** The server uids it holds something for. */
  knownServerUids(): Iterable<string> | Promise<Iterable<string>>;
  /** Drops everything keyed to these servers. Idempotent: a uid may be forgotten twice. */
  forgetServers(gone: readonly GoneServer[]): void | Promise<void>;
}

export interface ServerReaperOptions {
  store: ResourceStore;
  /** The shared GameServer informer (all namespaces). */
  informer: Informer<GameServer>;
  log?: Logger;
  /** Periodic sweep (default 10 min; 0 = only at start). */
  sweepIntervalMs?: number;
}

export class ServerReaper {
  private readonly states = new Set<PerServerState>();
  private readonly log: Logger;
  private readonly inFlight = new Set<Promise<unknown>>();
  private started = false;
  private swept = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly opts: ServerReaperOptions) {
    this.log = (opts.log ?? rootLogger).child({ component: 'server-reaper' });
  }

  /** Adds a participant; registered after the first sweep, it is swept on its own at once. */
  register(state: PerServerState): () => void {
    this.states.add(state);
    if (this.swept && !this.stopped) this.track(this.sweepStates([state]));
    return () => this.states.delete(state);
  }

  /** Follows deletions and sweeps once the informer synced. The informer is started by its owner. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const reg = this.opts.informer.addEventHandler({
      onDelete: (s) => {
        if (s.metadata.uid) this.track(this.serverGone(s));
      },
    });
    this.unsubscribe = () => reg.remove();
    void this.opts.informer.waitForSync().then((ok) => {
      if (!ok || this.stopped) return;
      this.track(this.sweep().finally(() => (this.swept = true)));
      const every = this.opts.sweepIntervalMs ?? 10 * 60_000;
      if (every > 0) {
        this.timer = setInterval(() => this.track(this.sweep()), every);
        this.timer.unref();
      }
    });
  }

  /** Drops what every participant keeps for this server (a delete the caller saw complete). */
  async serverGone(server: { metadata: { uid?: string; namespace?: string; name: string } }): Promise<void> {
    const uid = server.metadata.uid;
    if (!uid) return;
    await this.forget([...this.states], [{ uid, namespace: server.metadata.namespace ?? 'default', name: server.metadata.name }], 'deleted');
  }

  /** Forgets, in every participant, the uids that no longer name a stored GameServer. Returns how many were forgotten. */
  sweep(): Promise<number> {
    return this.sweepStates([...this.states]);
  }

  /** Every forget and sweep started so far has finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    await this.settled();
  }

  private async sweepStates(states: PerServerState[]): Promise<number> {
    if (!states.length) return 0;
    const known = await Promise.all(states.map(async (s) => new Set(await s.knownServerUids())));
    if (known.every((k) => k.size === 0)) return 0;
    const live = new Set((await this.opts.store.list<GameServer>('GameServer')).items.map((s) => s.metadata.uid));
    let forgotten = 0;
    await Promise.all(
      states.map(async (state, i) => {
        const gone = [...known[i]!].filter((uid) => !live.has(uid)).map((uid) => ({ uid }));
        if (!gone.length) return;
        forgotten += gone.length;
        await this.forget([state], gone, 'swept');
      }),
    );
    if (forgotten) this.log.info('forgot state of servers that no longer exist', { count: forgotten });
    return forgotten;
  }

  private async forget(states: PerServerState[], gone: GoneServer[], why: string): Promise<void> {
    await Promise.all(
      states.map(async (state) => {
        try {
          await state.forgetServers(gone);
        } catch (err) {
          // The next sweep tries again; one participant failing must not keep the others' state.
          this.log.error('cannot forget the state of deleted servers', { state: state.stateName, why, uids: gone.map((g) => g.uid), err });
        }
      }),
    );
  }

  private track<T>(p: Promise<T>): void {
    const tracked = p.catch((err) => this.log.error('server reaper failed', { err }));
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }
}
