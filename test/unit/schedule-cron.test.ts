// Schedule arithmetic against fixed instants: DST days, Feb 29, steps, ranges, lists, bad expressions.
import { describe, expect, it } from 'vitest';
import { CronError, parseCron } from '../../controller/reconcilers/schedule/cron.ts';

const runs = (expr: string, tz: string, from: string, n: number) => {
  const c = parseCron(expr, tz);
  const out: string[] = [];
  let t = new Date(from);
  for (let i = 0; i < n; i++) {
    const next = c.next(t);
    if (!next) break;
    out.push(next.toISOString());
    t = next;
  }
  return out;
};

describe('cron arithmetic', () => {
  it('Europe/Berlin spring forward (2026-03-29, 02:00 → 03:00): a 02:30 job runs at 03:00 that day, once', () => {
    expect(runs('30 2 * * *', 'Europe/Berlin', '2026-03-27T12:00:00Z', 3)).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST, the first valid time after the gap
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
  });

  it('Europe/Berlin fall back (2026-10-25, 03:00 → 02:00): a 02:30 job runs once', () => {
    expect(runs('30 2 * * *', 'Europe/Berlin', '2026-10-23T12:00:00Z', 3)).toEqual([
      '2026-10-24T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST) only
      '2026-10-26T01:30:00.000Z', // 02:30 CET
    ]);
  });

  it('America/New_York spring forward (2026-03-08) and fall back (2026-11-01) for a 04:00 job keep local time', () => {
    expect(runs('0 4 * * *', 'America/New_York', '2026-03-07T00:00:00Z', 3)).toEqual([
      '2026-03-07T09:00:00.000Z', // EST -5
      '2026-03-08T08:00:00.000Z', // EDT -4
      '2026-03-09T08:00:00.000Z',
    ]);
    expect(runs('0 4 * * *', 'America/New_York', '2026-10-31T00:00:00Z', 2)).toEqual([
      '2026-10-31T08:00:00.000Z',
      '2026-11-01T09:00:00.000Z',
    ]);
  });

  it('America/New_York: a 02:15 job on the spring-forward day runs at 03:00 EDT', () => {
    expect(runs('15 2 * * *', 'America/New_York', '2026-03-08T00:00:00Z', 2)).toEqual(['2026-03-08T07:00:00.000Z', '2026-03-09T06:15:00.000Z']);
  });

  it('Feb 29 fires only in leap years', () => {
    expect(runs('0 12 29 2 *', 'UTC', '2026-01-01T00:00:00Z', 3)).toEqual(['2028-02-29T12:00:00.000Z', '2032-02-29T12:00:00.000Z', '2036-02-29T12:00:00.000Z']);
  });

  it('*/n, ranges with steps, lists and names', () => {
    expect(runs('*/20 * * * *', 'UTC', '2026-05-01T10:05:00Z', 4)).toEqual([
      '2026-05-01T10:20:00.000Z',
      '2026-05-01T10:40:00.000Z',
      '2026-05-01T11:00:00.000Z',
      '2026-05-01T11:20:00.000Z',
    ]);
    expect(runs('0 9-17/4 * * *', 'UTC', '2026-05-01T00:00:00Z', 4)).toEqual([
      '2026-05-01T09:00:00.000Z',
      '2026-05-01T13:00:00.000Z',
      '2026-05-01T17:00:00.000Z',
      '2026-05-02T09:00:00.000Z',
    ]);
    // 2026-05-01 is a Friday.
    expect(runs('30 6 * * mon,wed,FRI', 'UTC', '2026-05-01T07:00:00Z', 3)).toEqual([
      '2026-05-04T06:30:00.000Z',
      '2026-05-06T06:30:00.000Z',
      '2026-05-08T06:30:00.000Z',
    ]);
    expect(runs('0 0 1,15 * *', 'UTC', '2026-05-02T00:00:00Z', 2)).toEqual(['2026-05-15T00:00:00.000Z', '2026-06-01T00:00:00.000Z']);
    // 7 is Sunday too.
    expect(runs('0 0 * * 7', 'UTC', '2026-05-01T00:00:00Z', 1)).toEqual(['2026-05-03T00:00:00.000Z']);
  });

  it('day-of-month and day-of-week both restricted: either matches (Vixie cron)', () => {
    // The 13th, or any Friday, in June 2026 (June 5 is a Friday).
    expect(runs('0 0 13 * 5', 'UTC', '2026-06-01T00:00:00Z', 3)).toEqual(['2026-06-05T00:00:00.000Z', '2026-06-12T00:00:00.000Z', '2026-06-13T00:00:00.000Z']);
  });

  it('latestBetween finds the latest missed run without a burst, also over a long gap', () => {
    const c = parseCron('* * * * *', 'UTC');
    expect(c.latestBetween(new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:03:30Z'))?.toISOString()).toBe('2026-01-01T00:03:00.000Z');
    expect(c.latestBetween(new Date('2026-01-01T00:00:00Z'), new Date('2026-03-01T10:07:30Z'))?.toISOString()).toBe('2026-03-01T10:07:00.000Z');
    expect(c.latestBetween(new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:30Z'))).toBeUndefined();
  });

  it.each([
    ['61 * * * *', 'minute', 'minute: 61 is out of range 0-59'],
    ['* 24 * * *', 'hour', 'hour: 24 is out of range 0-23'],
    ['* * 32 * *', 'day-of-month', 'day-of-month: 32 is out of range 1-31'],
    ['* * 0 * *', 'day-of-month', 'day-of-month: 0 is out of range 1-31'],
    ['* * * 13 *', 'month', 'month: 13 is out of range 1-12'],
    ['* * * * 8', 'day-of-week', 'day-of-week: 8 is out of range 0-7'],
    ['*/0 * * * *', 'minute', 'minute: step "0" in "*/0" must be a whole number of at least 1'],
    ['5-1 * * * *', 'minute', 'minute: range "5-1" runs backwards (5 > 1)'],
    ['* * * foo *', 'month', 'month: "foo" in "foo" is not a valid value (a number 1-12 or JAN-DEC)'],
    ['1,,2 * * * *', 'minute', 'minute: empty list item in "1,,2"'],
    ['5/10 * * * *', 'minute', 'steps from a single value'],
  ])('rejects %s naming the field', (expr, field, message) => {
    let err: unknown;
    try {
      parseCron(expr, 'UTC');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CronError);
    expect((err as CronError).field).toBe(field);
    expect((err as CronError).message).toContain(message);
  });

  it('rejects the wrong number of fields, a never-firing date and an unknown time zone', () => {
    expect(() => parseCron('* * *')).toThrow(/has 3 field\(s\); exactly 5 are needed: minute hour day-of-month month day-of-week/);
    expect(() => parseCron('0 0 * * * *')).toThrow(/has 6 field/);
    expect(() => parseCron('0 0 30 2 *')).toThrow(/never fires/);
    expect(() => parseCron('0 0 * * *', 'Mars/Olympus')).toThrow(/timeZone: "Mars\/Olympus" is not a known IANA time zone/);
  });
});
