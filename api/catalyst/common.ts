// Small helpers shared by the Catalyst mappings: ids, timestamps, store lookups.
import { badRequest } from '../http/errors.ts';

export { getOrUndefined } from '../../controller/operations/lookup.ts';
export { nextTrigger } from '../../controller/operations/server-state.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * A Catalyst display name ("Minecraft Lobby #2") as a DNS-1123 label ("minecraft-lobby-2"), the form
 * metadata.name needs. At most 63 characters: container names, labels and data directories carry it.
 */
export function slugify(name: string, max = 63): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/g, '');
  return slug;
}

/** The metadata.name for an explicit id or a display name; 400 when neither gives a usable one. */
export function resourceName(what: string, explicitId: unknown, name: string): string {
  if (typeof explicitId === 'string' && explicitId !== '') {
    if (explicitId.length > 63 || !DNS_LABEL.test(explicitId)) throw badRequest(`${what} id "${explicitId.slice(0, 80)}" must be a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters`, 'invalid_id');
    return explicitId;
  }
  const slug = slugify(name);
  if (!slug) throw badRequest(`${what} name "${name.slice(0, 80)}" has no letters or digits to build an id from; give an id`, 'invalid_name');
  return slug;
}

/** The newest of some RFC 3339 timestamps (for Catalyst's updatedAt, which Kubernetes objects do not keep). */
export function latest(...times: (string | undefined | null)[]): string | undefined {
  let best: string | undefined;
  let bestMs = -Infinity;
  for (const t of times) {
    if (!t) continue;
    const ms = Date.parse(t);
    if (Number.isFinite(ms) && ms > bestMs) {
      bestMs = ms;
      best = t;
    }
  }
  return best;
}

export const MiB = 1024 * 1024;
