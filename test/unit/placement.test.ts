// The placement accessors over every state a server's placement can be in, and a guard that no code
// outside crds/placement.ts decides "which node" with an inline `status ?? spec` (or the reverse).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { boundNode, currentNode, dataNode, isAdmitted, isMoving, isOnNode, isTransferring, nodesOf, targetNode, transferTarget, type Placed } from '../../crds/placement.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

const states: Record<string, Placed> = {
  unscheduled: { spec: {}, status: {} },
  'bound, not admitted': { spec: { nodeName: 'b' }, status: {} },
  admitted: { spec: { nodeName: 'a' }, status: { nodeName: 'a' } },
  'transferring a → b': { spec: { nodeName: 'b' }, status: { nodeName: 'a' } },
  'admitted, binding cleared': { spec: { nodeName: '' }, status: { nodeName: 'a' } },
  'empty strings': { spec: { nodeName: '' }, status: { nodeName: '' } },
};

describe('placement accessors', () => {
  it.each([
    // state, dataNode, boundNode, admitted, transferring, currentNode, targetNode, nodesOf
    ['unscheduled', undefined, undefined, false, false, undefined, undefined, []],
    ['bound, not admitted', undefined, 'b', false, false, 'b', 'b', ['b']],
    ['admitted', 'a', 'a', true, false, 'a', 'a', ['a']],
    ['transferring a → b', 'a', 'b', true, true, 'a', 'b', ['b', 'a']],
    ['admitted, binding cleared', 'a', undefined, true, false, 'a', 'a', ['a']],
    ['empty strings', undefined, undefined, false, false, undefined, undefined, []],
  ] as const)('%s', (name, data, bound, admitted, transferring, current, target, nodes) => {
    const s = states[name]!;
    expect(dataNode(s)).toBe(data);
    expect(boundNode(s)).toBe(bound);
    expect(isAdmitted(s)).toBe(admitted);
    expect(isTransferring(s)).toBe(transferring);
    expect(transferTarget(s)).toBe(transferring ? bound : undefined);
    expect(currentNode(s)).toBe(current);
    expect(targetNode(s)).toBe(target);
    expect(nodesOf(s)).toEqual(nodes);
    for (const n of ['a', 'b', 'c']) expect(isOnNode(s, n)).toBe((nodes as readonly string[]).includes(n));
    expect(isMoving(s)).toBe(transferring);
  });

  it('isMoving also while the stream runs after spec.nodeName went back (a cancel), not while cleaning up', () => {
    expect(isMoving({ spec: { nodeName: 'a' }, status: { nodeName: 'a', transfer: { phase: 'Streaming' } } })).toBe(true);
    expect(isMoving({ spec: { nodeName: 'b' }, status: { nodeName: 'b', transfer: { phase: 'CleaningSource' } } })).toBe(false);
    expect(isMoving({ spec: { nodeName: 'a' }, status: { nodeName: 'a', transfer: { phase: 'CleaningTarget' } } })).toBe(false);
  });
});

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out; // a layer that does not exist (yet)
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (/\.(ts|tsx)$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Two `.nodeName` reads joined by `??` or `||` in one expression: a precedence decided inline. */
const INLINE_PRECEDENCE = /\.nodeName\b[^;]*?(\?\?|\|\|)[^;]*?\.nodeName\b/;

describe('no inline placement precedence', () => {
  it('finds none outside crds/placement.ts', async () => {
    const files = (await Promise.all(['api', 'controller', 'crds', 'agent', 'bin', 'lib', 'web'].map((d) => sources(path.join(ROOT, d))))).flat();
    expect(files.length).toBeGreaterThan(50);
    const offenders: string[] = [];
    for (const f of files) {
      if (f === path.join(ROOT, 'crds/placement.ts')) continue;
      const lines = (await readFile(f, 'utf8')).split('\n');
      lines.forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, '');
        if (INLINE_PRECEDENCE.test(code)) offenders.push(`${path.relative(ROOT, f)}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders, 'use dataNode/boundNode/currentNode/targetNode/isOnNode from crds/placement.ts').toEqual([]);
  });

  it('the guard itself catches both orders and the || form', () => {
    for (const bad of ['s.status?.nodeName ?? s.spec?.nodeName', 'const n = spec.nodeName ?? st.nodeName ?? null;', 'x.status?.nodeName || x.spec?.nodeName || undefined', 's.spec?.nodeName === n || s.status?.nodeName === n']) {
      expect(INLINE_PRECEDENCE.test(bad), bad).toBe(true);
    }
    for (const fine of ['const nodeName = node?.metadata.name ?? server.spec?.nodeName ?? \'\';', 'nodeId: st.nodeName ?? null,', 's.spec?.nodeName === p.nodeName && s.status?.nodeName === p.nodeName']) {
      expect(INLINE_PRECEDENCE.test(fine), fine).toBe(false);
    }
  });
});
