// Schedule operations: create a Schedule for a server (it goes with the server: an ownerReference),
// change, delete, run now. The cron expression and time zone are checked here with the field named
// (`schedule: hour: 25 is out of range 0-23`), and so are the steps.
import type { GameServer, Schedule, ScheduleSpec, ScheduleStep } from '../../crds/types.ts';
import { API_VERSION } from '../../crds/resource.ts';
import { CronError, parseCron } from '../reconcilers/schedule/cron.ts';
import { ANNOTATION_RUN_REQUESTED } from '../reconcilers/schedule/plan.ts';
import type { ResourceStore } from '../store/types.ts';
import { conflict, invalid, locked } from './errors.ts';

/** A Schedule's display name (it has none of its own). */
export const ANNOTATION_DISPLAY_NAME = 'gantry.dev/display-name';
/** On Schedules made for a server, so `kubectl get sched -l gantry.dev/server=mc` finds them. */
export const LABEL_SERVER = 'gantry.dev/server';

export interface CreateScheduleInput {
  displayName: string;
  /** Base of the generated name (a random suffix is appended). */
  generateName: string;
  schedule: string;
  timeZone?: string;
  steps: ScheduleStep[];
  suspend?: boolean;
  onlyWhenRunning?: boolean;
  concurrencyPolicy?: ScheduleSpec['concurrencyPolicy'];
}

/** invalid naming the field when the expression or the zone is wrong. */
export function checkCron(schedule: string, timeZone: string): void {
  try {
    parseCron(schedule, timeZone);
  } catch (err) {
    if (err instanceof CronError) throw invalid(err.field === 'timeZone' ? err.message : `schedule: ${err.message}`, 'invalid_schedule');
    throw err;
  }
}

export function checkSteps(steps: ScheduleStep[]): void {
  steps.forEach((s, i) => {
    if (s.action === 'command' && !s.payload) throw invalid(`steps.${i}.payload: a command step needs the console command`, 'invalid_body');
  });
}

/** Asks for one run of a Schedule now, whatever its schedule (the annotation the Schedule controller follows). */
export async function requestScheduleRun(store: ResourceStore, namespace: string, name: string, at = new Date()): Promise<Schedule> {
  return store.patch<Schedule>('Schedule', namespace, name, { metadata: { annotations: { [ANNOTATION_RUN_REQUESTED]: at.toISOString() } } });
}

export class ScheduleOps {
  constructor(private readonly d: { store: ResourceStore; now: () => number }) {}

  async create(server: GameServer, input: CreateScheduleInput): Promise<Schedule> {
    checkSteps(input.steps);
    const timeZone = input.timeZone ?? 'UTC';
    checkCron(input.schedule, timeZone);
    const spec: ScheduleSpec = { serverRef: server.metadata.name, schedule: input.schedule.trim(), timeZone, steps: input.steps, suspend: !!input.suspend };
    if (input.onlyWhenRunning !== undefined) spec.onlyWhenRunning = input.onlyWhenRunning;
    if (input.concurrencyPolicy !== undefined) spec.concurrencyPolicy = input.concurrencyPolicy;
    return this.d.store.create<Schedule>({
      apiVersion: API_VERSION,
      kind: 'Schedule',
      metadata: {
        generateName: input.generateName,
        namespace: server.metadata.namespace,
        // A label value holds at most 63 characters; a longer server name goes without the label.
        ...(server.metadata.name.length <= 63 ? { labels: { [LABEL_SERVER]: server.metadata.name } } : {}),
        annotations: { [ANNOTATION_DISPLAY_NAME]: input.displayName },
        // The schedule dies with its server (a new server of the same name does not inherit it).
        ownerReferences: [{ apiVersion: API_VERSION, kind: 'GameServer', name: server.metadata.name, uid: server.metadata.uid! }],
      } as unknown as Schedule['metadata'],
      spec,
    });
  }

  /** Merges `patch` into the spec (checked) and sets the display name; unchanged → the Schedule as it is. */
  async update(sched: Schedule, patch: Partial<ScheduleSpec>, opts: { displayName?: string } = {}): Promise<Schedule> {
    if (patch.steps) checkSteps(patch.steps);
    if (patch.schedule !== undefined) patch = { ...patch, schedule: patch.schedule.trim() };
    if (patch.schedule !== undefined || patch.timeZone !== undefined) checkCron(patch.schedule ?? sched.spec!.schedule, patch.timeZone ?? sched.spec!.timeZone ?? 'UTC');
    const annotations = opts.displayName !== undefined ? { [ANNOTATION_DISPLAY_NAME]: opts.displayName } : undefined;
    if (!Object.keys(patch).length && !annotations) return sched;
    return this.d.store.patch<Schedule>('Schedule', sched.metadata.namespace, sched.metadata.name, {
      ...(annotations ? { metadata: { annotations } } : {}),
      ...(Object.keys(patch).length ? { spec: patch } : {}),
    });
  }

  async delete(sched: Schedule): Promise<void> {
    await this.d.store.delete('Schedule', sched.metadata.namespace, sched.metadata.name);
  }

  /**
   * Runs the steps once now, whatever the schedule (also when suspended). The Schedule controller runs it
   * once a run has started at or after this time, so asking twice while it waits still means one run.
   */
  async runNow(sched: Schedule, server: GameServer | undefined): Promise<Date> {
    if (!server) throw conflict(`Task "${sched.metadata.name}" is for server "${sched.spec!.serverRef}", which does not exist`, 'server_missing');
    if (server.spec?.suspended) throw locked(`Server is suspended${server.spec.suspendReason ? ` (${server.spec.suspendReason})` : ''}: tasks cannot run until it is unsuspended`);
    const at = new Date(this.d.now());
    await requestScheduleRun(this.d.store, sched.metadata.namespace ?? 'default', sched.metadata.name, at);
    return at;
  }
}
