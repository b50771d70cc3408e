// The schedule editor's helper: the next runs of a cron expression in a time zone. It runs the
// controller's own parser (croner underneath, same field checks and messages), so what the page
// previews is exactly what the Schedule controller will do.
import { parseCron } from '../../../controller/reconcilers/schedule/cron.ts';

export interface CronPreview {
  runs: Date[];
  error?: string;
}

export function nextRuns(expr: string, timeZone: string | undefined, count = 5, from = new Date()): CronPreview {
  try {
    const schedule = parseCron(expr, timeZone || 'UTC');
    const runs: Date[] = [];
    let t: Date | undefined = from;
    while (runs.length < count && (t = schedule.next(t))) runs.push(t);
    return { runs };
  } catch (err) {
    return { runs: [], error: (err as Error).message };
  }
}

export const CRON_PRESETS: readonly { label: string; expr: string }[] = [
  { label: 'cron.preset.every15', expr: '*/15 * * * *' },
  { label: 'cron.preset.hourly', expr: '0 * * * *' },
  { label: 'cron.preset.daily4', expr: '0 4 * * *' },
  { label: 'cron.preset.weekly', expr: '0 3 * * 1' },
  { label: 'cron.preset.monthly', expr: '0 5 1 * *' },
];
