import { describe, expect, it } from 'vitest';
import { createMergePatch, deepEqual, mergePatch } from '../../controller/store/merge-patch.ts';

// RFC 7386, Appendix A: [original, patch, result].
const APPENDIX: [unknown, unknown, unknown][] = [
  [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
  [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
  [{ a: 'b' }, { a: null }, {}],
  [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
  [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
  [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
  [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
  [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
  [['a', 'b'], ['c', 'd'], ['c', 'd']],
  [{ a: 'b' }, ['c'], ['c']],
  [{ a: 'foo' }, null, null],
  [{ a: 'foo' }, 'bar', 'bar'],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: 'b', c: null }, { a: 'b' }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];

describe('mergePatch (RFC 7386)', () => {
  it.each(APPENDIX.map(([o, p, r], i) => ({ i: i + 1, o, p, r })))('appendix example $i', ({ o, p, r }) => {
    expect(mergePatch(o, p)).toEqual(r);
  });

  it('the RFC 7386 section 3 example', () => {
    const target = { title: 'Goodbye!', author: { givenName: 'John', familyName: 'Doe' }, tags: ['example', 'sample'], content: 'This will be unchanged' };
    const patch = { title: 'Hello!', phoneNumber: '+01-123-456-7890', author: { familyName: null }, tags: ['example'] };
    expect(mergePatch(target, patch)).toEqual({
      title: 'Hello!',
      author: { givenName: 'John' },
      tags: ['example'],
      content: 'This will be unchanged',
      phoneNumber: '+01-123-456-7890',
    });
  });

  it('modifies neither argument and shares no structure with the patch', () => {
    const target = { a: { b: 1 }, list: [1, 2] };
    const patch = { a: { c: { d: 2 } }, list: [3] };
    const t0 = JSON.parse(JSON.stringify(target));
    const p0 = JSON.parse(JSON.stringify(patch));
    const out = mergePatch(target, patch) as { a: { c: { d: number } }; list: number[] };
    expect(target).toEqual(t0);
    expect(patch).toEqual(p0);
    out.a.c.d = 99;
    out.list.push(4);
    expect(patch).toEqual(p0);
  });
});

describe('createMergePatch', () => {
  const cases: [unknown, unknown][] = [
    [{ a: 1 }, { a: 2 }],
    [{ a: 1, b: 2 }, { a: 1 }],
    [{ a: { b: { c: 1, d: 2 } } }, { a: { b: { c: 1 } }, e: [1] }],
    [{ a: [1, 2] }, { a: [1] }],
    ['x', { a: 1 }],
  ];
  it.each(cases)('round-trips %j -> %j', (from, to) => {
    expect(mergePatch(from, createMergePatch(from, to))).toEqual(to);
  });
  it('is undefined for equal documents', () => {
    expect(createMergePatch({ a: { b: [1] } }, { a: { b: [1] } })).toBeUndefined();
  });
});

describe('deepEqual', () => {
  it('ignores key order and undefined members, not array order', () => {
    expect(deepEqual({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toBe(true);
    expect(deepEqual({ a: 1, x: undefined }, { a: 1 })).toBe(true);
    expect(deepEqual([1, 2], [2, 1])).toBe(false);
    expect(deepEqual({ a: null }, { a: undefined })).toBe(false);
    expect(deepEqual([], {})).toBe(false);
    expect(deepEqual(1, '1')).toBe(false);
  });
});
