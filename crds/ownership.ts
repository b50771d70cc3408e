// Spec fields written by someone other than the file or command that declares the object: the
// scheduler binds `nodeName`, and the imperative API sets one-shot triggers. A declarative
// create-or-replace (manifests dir, `gantry apply`) that leaves such a field out keeps the current
// value, the way `kubectl apply` leaves fields it does not manage alone; a declaration that sets
// the field still wins.
import type { Resource } from './resource.ts';

const PRESERVED_SPEC_FIELDS: Record<string, readonly string[]> = {
  GameServer: ['nodeName', 'restartedAt', 'killedAt', 'reinstalledAt', 'crashCountResetAt'],
};

/** The spec to write when `declared` replaces `current`'s spec. */
export function mergeDeclaredSpec(kind: string, declared: Resource['spec'], current: Resource['spec']): Resource['spec'] {
  const fields = PRESERVED_SPEC_FIELDS[kind];
  if (!fields || !current) return declared;
  const out: Record<string, unknown> = { ...(declared ?? {}) };
  for (const f of fields) if (out[f] === undefined && current[f] !== undefined) out[f] = current[f];
  return out;
}
