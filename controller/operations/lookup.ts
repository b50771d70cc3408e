// A store read that answers undefined for a missing object (and for a name no object can have).
import type { AnyResource } from '../../crds/resource.ts';
import { isStoreError } from '../store/errors.ts';
import type { ResourceStore } from '../store/types.ts';

export async function getOrUndefined<T extends AnyResource>(store: ResourceStore, kind: string, namespace: string | undefined, name: string): Promise<T | undefined> {
  if (!name || name.length > 253) return undefined;
  try {
    return await store.get<T>(kind, namespace, name);
  } catch (err) {
    if (isStoreError(err) && err.code === 404) return undefined;
    throw err;
  }
}
