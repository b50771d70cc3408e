// Built-in ServerTemplates created on start when missing, so a fresh `gantry up` has something to
// run. Never overwrites: once a template exists, the operator owns it (edit or delete it freely;
// a deleted one comes back only if the name is free at the next start).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Resource } from '../../crds/resource.ts';
import type { ResourceStore } from '../store/types.ts';
import { isStoreError } from '../store/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { listYamlFiles } from './manifests.ts';

export const SEEDED_LABEL = 'gantry.dev/seeded';

export async function seedTemplates(store: ResourceStore, dir: string, log: Logger): Promise<string[]> {
  const created: string[] = [];
  for (const file of await listYamlFiles(dir)) {
    const text = await readFile(path.join(dir, file), 'utf8');
    for (const doc of parseAllDocuments(text)) {
      const obj = doc.toJS() as Resource | null;
      if (doc.errors.length || obj?.kind !== 'ServerTemplate') continue;
      obj.metadata.labels = { ...obj.metadata.labels, [SEEDED_LABEL]: 'true' };
      try {
        await store.create(obj);
        created.push(obj.metadata.name);
      } catch (err) {
        if (!isStoreError(err, 'AlreadyExists')) log.warn('built-in template not seeded', { file, name: obj.metadata.name, err });
      }
    }
  }
  if (created.length) log.info('seeded built-in templates', { templates: created, from: dir });
  return created;
}
