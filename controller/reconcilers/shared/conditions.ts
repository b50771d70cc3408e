// metav1.Condition lists as every reconciler keeps them: one entry per type, lastTransitionTime moved
// only when the status changes.
import type { Condition } from '../../../crds/types.ts';

const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Sets a condition in a copy of the list; lastTransitionTime moves only when the status changes. */
export function setCondition(list: readonly Condition[] | undefined, next: Omit<Condition, 'lastTransitionTime'>, now: number): Condition[] {
  const out = [...(list ?? [])];
  const i = out.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? out[i] : undefined;
  const c: Condition = { ...next, lastTransitionTime: prev && prev.status === next.status && prev.lastTransitionTime ? prev.lastTransitionTime : rfc3339(now) };
  if (i >= 0) out[i] = c;
  else out.push(c);
  return out;
}


export const findCondition = (list: readonly Condition[] | undefined, type: string): Condition | undefined => list?.find((c) => c.type === type);
