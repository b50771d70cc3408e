import { describe, expect, it } from 'vitest';
import { isStoreError } from '../../controller/store/errors.ts';
import { labelKeyProblem, parseLabelSelector } from '../../controller/store/label-selector.ts';

const labels = { app: 'mc', tier: 'game', 'gantry.dev/owner': 'alice', empty: '' };

describe('label selector', () => {
  it.each([
    ['', true],
    ['app=mc', true],
    ['app==mc', true],
    ['app=valheim', false],
    ['app!=valheim', true],
    ['missing!=x', true], // an absent label satisfies != (Kubernetes)
    ['app in (mc, valheim)', true],
    ['app in (valheim,cs2)', false],
    ['app notin (valheim)', true],
    ['missing notin (a)', true],
    ['app notin (mc)', false],
    ['tier', true],
    ['missing', false],
    ['!missing', true],
    ['!tier', false],
    ['gantry.dev/owner=alice', true],
    ['empty=', true],
    ['app=mc,tier=game,!missing', true],
    ['app=mc, tier=other', false],
    ['  app = mc  ,  tier in ( game )  ', true],
  ])('%j matches: %s', (sel, expected) => {
    expect(parseLabelSelector(sel).matches(labels)).toBe(expected);
  });

  it('treats missing labels as an empty set', () => {
    expect(parseLabelSelector('a!=b').matches(undefined)).toBe(true);
    expect(parseLabelSelector('a').matches(undefined)).toBe(false);
  });

  it('prints a canonical form independent of order, spacing and operator spelling', () => {
    expect(parseLabelSelector('b in (y, x), a==1').toString()).toBe(parseLabelSelector('a=1,b in (x,y)').toString());
    expect(parseLabelSelector('a=1').toString()).not.toBe(parseLabelSelector('a!=1').toString());
  });

  it.each([
    ['app=', /* ok */ null],
    ['=mc', /expected a label key/],
    ['app=mc,', /trailing ","/],
    [',app', /expected a label key/],
    ['app in mc', /expected "\(" after "in"/],
    ['app in ()', /expected a value in the "in" set/],
    ['app in (a,b', /expected "," or "\)"/],
    ['app notin (a b)', /expected "," or "\)"/],
    ['app mc', /expected =, ==, !=, in, notin/],
    ['app=mc tier=x', /expected "," between requirements/],
    ['app>3', /operator ">" is not supported/],
    ['app=m c', /expected "," between requirements/],
    ['app=@', /unexpected character "@"/],
    ['-bad=x', /invalid key "-bad"/],
    ['Example.com/x=1', /invalid key/],
    ['app=-x', /invalid value "-x"/],
    ['!', /expected a label key, found end of selector/],
    ['a=' + 'x'.repeat(64), /invalid value/],
  ])('%j is rejected with a BadRequest naming the problem', (sel, message) => {
    if (message === null) return expect(() => parseLabelSelector(sel)).not.toThrow();
    let err: unknown;
    try {
      parseLabelSelector(sel);
    } catch (e) {
      err = e;
    }
    expect(isStoreError(err, 'BadRequest')).toBe(true);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(`"${sel}"`);
    expect((err as Error).message).toMatch(/at position \d+/);
  });

  it('validates label keys like Kubernetes', () => {
    expect(labelKeyProblem('app')).toBeUndefined();
    expect(labelKeyProblem('gantry.dev/managed-by')).toBeUndefined();
    expect(labelKeyProblem('a/b/c')).toBeDefined();
    expect(labelKeyProblem('/x')).toBeDefined();
    expect(labelKeyProblem('x'.repeat(64))).toBeDefined();
  });
});
