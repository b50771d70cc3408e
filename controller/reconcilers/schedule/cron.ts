// 5-field cron expressions read in an IANA time zone, through croner 11.
//
// croner does the arithmetic (DST included: a fixed-time job in a spring-forward gap runs at the first
// valid time after it, and a time that occurs twice in the fall-back hour runs once; interval jobs such
// as `*/15` follow the wall clock). We check each field ourselves first because croner's messages are
// off by one for day and month ("Invalid value for day: 31" for 32) and do not say which range applies;
// an operator reading `status.message` should see `day-of-month: 32 is out of range 1-31`.
import { Cron } from 'croner';

export interface CronField {
  name: 'minute' | 'hour' | 'day-of-month' | 'month' | 'day-of-week';
  min: number;
  max: number;
  names?: readonly string[];
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

export const CRON_FIELDS: readonly CronField[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  // 7 = Sunday as in Vixie cron.
  { name: 'day-of-week', min: 0, max: 7, names: DAYS },
];

/** A schedule that cannot be used; `field` names the cron field at fault when there is one. */
export class CronError extends Error {
  readonly field?: string;
  constructor(message: string, field?: string) {
    super(message);
    this.name = 'CronError';
    this.field = field;
  }
}

function value(field: CronField, raw: string, part: string): number {
  const upper = raw.toUpperCase();
  if (field.names) {
    const i = field.names.indexOf(upper);
    if (i >= 0) return field.name === 'month' ? i + 1 : i;
  }
  if (!/^\d+$/.test(raw)) {
    const hint = field.names ? ` (a number ${field.min}-${field.max} or ${field.names[0]}-${field.names[field.names.length - 1]})` : ` (a number ${field.min}-${field.max})`;
    throw new CronError(`${field.name}: "${raw}" in "${part}" is not a valid value${hint}`, field.name);
  }
  const n = Number(raw);
  if (n < field.min || n > field.max) throw new CronError(`${field.name}: ${n} is out of range ${field.min}-${field.max}`, field.name);
  return n;
}

function checkField(field: CronField, text: string): void {
  for (const part of text.split(',')) {
    if (part === '') throw new CronError(`${field.name}: empty list item in "${text}"`, field.name);
    if (field.name === 'day-of-month' && part.toUpperCase() === 'L') continue;
    const [range, step, extra] = part.split('/');
    if (extra !== undefined) throw new CronError(`${field.name}: "${part}" has more than one "/"`, field.name);
    if (step !== undefined) {
      if (!/^\d+$/.test(step) || Number(step) < 1) throw new CronError(`${field.name}: step "${step}" in "${part}" must be a whole number of at least 1`, field.name);
      if (Number(step) > field.max) throw new CronError(`${field.name}: step ${step} in "${part}" is larger than the field's maximum ${field.max}`, field.name);
    }
    if (range === '*' || range === '?') continue;
    const bounds = range.split('-');
    if (bounds.length > 2) throw new CronError(`${field.name}: "${part}" is not a value, a range a-b, or a step */n`, field.name);
    const lo = value(field, bounds[0]!, part);
    if (bounds.length === 2) {
      const hi = value(field, bounds[1]!, part);
      if (lo > hi) throw new CronError(`${field.name}: range "${range}" runs backwards (${lo} > ${hi})`, field.name);
    } else if (step !== undefined) {
      throw new CronError(`${field.name}: "${part}" steps from a single value; write "${range}-${field.max}/${step}" or "*/${step}"`, field.name);
    }
  }
}

/** Throws CronError unless `tz` is an IANA zone this runtime knows. */
export function checkTimeZone(tz: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new CronError(`timeZone: "${tz}" is not a known IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)`, 'timeZone');
  }
}

export interface CronSchedule {
  readonly expression: string;
  readonly timeZone: string;
  /** The first run strictly after `after`; undefined if the expression never fires again. */
  next(after: Date): Date | undefined;
  /**
   * The latest run in (after, upTo], or undefined. Missed runs are not enumerated one by one beyond
   * `maxSteps` (a `* * * * *` schedule after a month of downtime): then the answer comes from
   * croner's own backward search.
   */
  latestBetween(after: Date, upTo: Date): Date | undefined;
}

/** Parses and checks a 5-field expression in `timeZone` (default UTC). Throws CronError. */
export function parseCron(expression: string, timeZone = 'UTC'): CronSchedule {
  const expr = String(expression ?? '').trim();
  const fields = expr.split(/\s+/).filter(Boolean);
  if (fields.length !== 5) {
    throw new CronError(`schedule "${expr}" has ${fields.length} field(s); exactly 5 are needed: minute hour day-of-month month day-of-week (e.g. "0 4 * * *")`);
  }
  fields.forEach((f, i) => checkField(CRON_FIELDS[i]!, f));
  checkTimeZone(timeZone);
  let cron: Cron;
  try {
    // domAndDow false: day-of-month OR day-of-week when both are restricted, as in Vixie cron.
    cron = new Cron(fields.join(' '), { timezone: timeZone, paused: true, mode: '5-part', domAndDow: false });
  } catch (err) {
    throw new CronError(`schedule "${expr}": ${(err as Error).message.replace(/^CronPattern: /, '')}`);
  }
  if (!cron.nextRun(new Date(0))) throw new CronError(`schedule "${expr}" never fires (e.g. February 30)`);
  const next = (after: Date) => cron.nextRun(after) ?? undefined;
  return {
    expression: expr,
    timeZone,
    next,
    latestBetween(after: Date, upTo: Date) {
      let last: Date | undefined;
      let t = next(after);
      for (let steps = 0; t && t.getTime() <= upTo.getTime(); steps++) {
        if (steps >= 2000) {
          const prev = cron.previousRuns(1, new Date(upTo.getTime() + 1))[0];
          return prev && prev.getTime() > after.getTime() ? prev : last;
        }
        last = t;
        t = next(t);
      }
      return last;
    },
  };
}
