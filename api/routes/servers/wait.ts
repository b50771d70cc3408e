// `?wait=true`: answer once the server's status reaches the goal of an action, by watching the store
// (no polling), bounded so a request never hangs on a server that cannot get there.
import type { GameServer } from '../../../crds/types.ts';
import type { WatchEvent } from '../../../controller/store/types.ts';
import type { ApiServices } from '../../http/services.ts';

export const DEFAULT_WAIT_SECONDS = 60;
export const MAX_WAIT_SECONDS = 300;

export interface WaitOutcome {
  server: GameServer | undefined;
  reached: boolean;
  /** The server went somewhere the goal cannot follow from (crashed, error): no point waiting longer. */
  settled: boolean;
}

/**
 * Resolves when `goal(server)` is true (reached), when `hopeless(server)` is (settled, not reached),
 * or after `timeoutMs` with the server as it is then.
 */
export async function waitForServer(
  svc: ApiServices,
  after: GameServer,
  goal: (s: GameServer) => boolean,
  hopeless: (s: GameServer) => boolean,
  timeoutMs: number,
): Promise<WaitOutcome> {
  const name = after.metadata.name;
  const ns = svc.servers.namespace;
  if (goal(after)) return { server: after, reached: true, settled: true };
  return new Promise<WaitOutcome>((resolve) => {
    let last: GameServer | undefined = after;
    let finished = false;
    let stopWatch: (() => void) | undefined;
    const finish = (reached: boolean, settled: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      stopWatch?.();
      resolve({ server: last, reached, settled });
    };
    const check = (s: GameServer) => {
      last = s;
      if (goal(s)) finish(true, true);
      else if (hopeless(s)) finish(false, true);
    };
    const timer = setTimeout(() => finish(false, false), timeoutMs);
    svc.store
      .watch({ kind: 'GameServer', namespace: ns, resourceVersion: after.metadata.resourceVersion }, (ev: WatchEvent) => {
        if (finished) return;
        if (ev.type === 'ERROR') {
          // Too far behind (410): read once and answer with what is there.
          void svc.servers.find(name).then((s) => {
            last = s ?? last;
            if (s) check(s);
            finish(false, false);
          });
          return;
        }
        if (ev.object.metadata?.name !== name) return;
        if (ev.type === 'DELETED') {
          last = undefined;
          return finish(false, true);
        }
        if (ev.type === 'ADDED' || ev.type === 'MODIFIED') check(ev.object as unknown as GameServer);
      })
      .then((w) => {
        if (finished) w.stop();
        else stopWatch = () => w.stop();
      })
      .catch(async () => {
        // The version is older than the watch history: read the current state instead.
        const s = await svc.servers.find(name).catch(() => undefined);
        if (s) check(s);
        finish(false, false);
      });
  });
}
