// The panel-neutral operations layer: the rules and spec edits every facade (Catalyst's routes, the
// other panels' under /compat, the schedule steps) shares, returning domain results and throwing
// OpError with a string code each dialect maps to its own status and body. No identity here: the
// API's layer (api/ops/) adds who may do what.
import type { AgentHub } from '../hub/agent-hub.ts';
import type { ServerReaper } from '../lifecycle/server-reaper.ts';
import type { InformerSource } from '../runtime/controller.ts';
import type { Clock } from '../runtime/workqueue.ts';
import type { ResourceStore } from '../store/types.ts';
import { BackupOps } from './backups.ts';
import { NodeOps, TemplateOps } from './catalog.ts';
import { ScheduleOps } from './schedules.ts';
import { ServerOps } from './servers.ts';
import { Waits } from './waits.ts';

export interface OperationsDeps {
  store: ResourceStore;
  /** Shared informers: waits are served from them. */
  informers: InformerSource;
  /** Wall-clock time for trigger stamps and wait timeouts (default: real time). */
  clock?: Clock;
  hub?: Pick<AgentHub, 'node'>;
  reaper?: Pick<ServerReaper, 'serverGone'>;
}

export class Operations {
  readonly waits: Waits;
  readonly servers: ServerOps;
  readonly backups: BackupOps;
  readonly nodes: NodeOps;
  readonly templates: TemplateOps;
  readonly schedules: ScheduleOps;

  constructor(d: OperationsDeps) {
    const now = d.clock ? () => d.clock!.now() : Date.now;
    this.waits = new Waits(d.informers, d.clock);
    this.servers = new ServerOps({ store: d.store, waits: this.waits, now, hub: d.hub, reaper: d.reaper });
    this.backups = new BackupOps({ store: d.store, waits: this.waits });
    this.nodes = new NodeOps({ store: d.store });
    this.templates = new TemplateOps({ store: d.store });
    this.schedules = new ScheduleOps({ store: d.store, now });
  }
}

export { OpError, isOpError, type OpCode } from './errors.ts';
export type { Goal, ServerChange } from './servers.ts';
export type { Verdict, WaitOutcome } from './waits.ts';
