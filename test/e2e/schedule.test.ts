// A real Schedule against a real container: `gantry up` embedded with its local agent, a GameServer on
// the test image, and a `* * * * *` Schedule whose run says something on the console, restarts the
// server, and says something again in the new container.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Embedded } from '../../bin/commands/up.ts';
import type { Schedule } from '../../crds/types.ts';
import { startLocalGantry, type LocalGantry } from '../helpers/embedded.ts';
import { until } from '../helpers/wait.ts';

const run = promisify(execFile);
const NODE = 'e2e-schedule';

describe('Schedule with real Docker', () => {
  let local: LocalGantry;
  let gantry: Embedded;
  let dataDir: string;
  const server = () => local.server('sched-srv');

  beforeAll(async () => {
    local = await startLocalGantry('gantry-e2e-sched-', NODE);
    ({ gantry, dataDir } = local);
    await local.runServer('sched-srv');
  }, 120_000);

  afterAll(() => local?.stop(['sched-srv']));

  it('a cron run sends console commands around a restart, in order, with the delay', async () => {
    const before = await server();
    await gantry.store.create<Schedule>({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Schedule',
      metadata: { name: 'say-restart', namespace: 'default' },
      spec: {
        serverRef: 'sched-srv',
        schedule: '* * * * *',
        timeZone: 'Europe/Berlin',
        steps: [
          { action: 'command', payload: 'say restart in 2 seconds' },
          { action: 'restart', delaySeconds: 2 },
          { action: 'command', payload: 'say back after the restart' },
        ],
      },
    });
    const sched = await until(
      'one completed run',
      async () => {
        const s = (await gantry.store.get('Schedule', 'default', 'say-restart')) as unknown as Schedule;
        return s.status?.runCount === 1 && s.status.lastResult?.completedAt ? s : undefined;
      },
      150_000,
    );
    expect(sched.status!.lastResult!.steps).toEqual([
      { action: 'command', success: true, message: 'sent "say restart in 2 seconds"' },
      { action: 'restart', success: true, message: 'restarted' },
      { action: 'command', success: true, message: 'sent "say back after the restart"' },
    ]);
    expect(sched.status!.lastResult!.success).toBe(true);
    expect(sched.status!.active).toBe(false);
    // The run started at a whole minute; the next one is exactly a minute after it.
    const last = Date.parse(sched.status!.lastScheduleTime!);
    expect(last % 60_000).toBe(0);
    expect(Date.parse(sched.status!.nextScheduleTime!)).toBe(last + 60_000);

    const after = await server();
    expect(after.status!.startedAt).not.toBe(before.status!.startedAt);
    // The data dir survives the restart, and the console log in it has both lines in order.
    const log = (await run('cat', [path.join(dataDir, 'agent/servers/default/sched-srv/console.log')])).stdout;
    const a = log.indexOf('say restart in 2 seconds');
    const b = log.indexOf('say back after the restart');
    expect(a).toBeGreaterThanOrEqual(0);
    expect(b).toBeGreaterThan(a);
    await until('the game answered the second command', () => gantry.hub.consoleHistory(NODE, after.metadata.uid!).some((l) => l.line === '[say] back after the restart'));
    const events = await gantry.events.list({ namespace: 'default', kind: 'Schedule', name: 'say-restart' });
    expect(events.map((e) => e.reason)).toEqual(expect.arrayContaining(['RunStarted', 'RunSucceeded']));
    await gantry.store.patch('Schedule', 'default', 'say-restart', { spec: { suspend: true } });
  }, 180_000);
});
