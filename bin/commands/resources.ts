// kubectl-like commands against a running Gantry: apply, get, delete.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { CrdKinds, KindInfo } from '../../crds/kinds.ts';
import type { Resource } from '../../crds/resource.ts';
import { mergeDeclaredSpec } from '../../crds/ownership.ts';
import { listYamlFiles } from '../../controller/sources/manifests.ts';
import { ApiError, GantryClient } from '../client.ts';
import { renderTable } from '../table.ts';

export interface CommandIO {
  out: (line: string) => void;
  err: (line: string) => void;
}

interface Doc {
  source: string;
  value: Resource;
}

/** Reads every document of the given files/directories; problems are reported and skipped. */
async function readDocs(targets: string[], io: CommandIO): Promise<{ docs: Doc[]; failed: number }> {
  const docs: Doc[] = [];
  let failed = 0;
  for (const target of targets) {
    let files: string[];
    try {
      files = (await stat(target)).isDirectory() ? (await listYamlFiles(target)).map((f) => path.join(target, f)) : [target];
    } catch (err) {
      io.err(`error: cannot read ${target}: ${(err as Error).message}`);
      failed++;
      continue;
    }
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      for (const [i, doc] of parseAllDocuments(text, { prettyErrors: true }).entries()) {
        const where = `${file} document ${i}`;
        if (doc.errors.length) {
          io.err(`error: ${where}: ${doc.errors.map((e) => e.message).join('; ')}`);
          failed++;
          continue;
        }
        const value = doc.toJS() as unknown;
        if (value === null || value === undefined) continue;
        if (typeof value !== 'object' || Array.isArray(value)) {
          io.err(`error: ${where}: not a resource (expected a mapping with apiVersion, kind, metadata)`);
          failed++;
          continue;
        }
        docs.push({ source: where, value: value as Resource });
      }
    }
  }
  return { docs, failed };
}

function kindOf(registry: CrdKinds, name: string): KindInfo {
  const info = registry.resolve(name);
  if (!info) {
    throw new ApiError(`the server doesn't have a resource type "${name}" (known: ${registry.kinds().map((k) => k.plural).join(', ')})`, 0);
  }
  return info;
}

const label = (info: KindInfo, name: string) => `${info.singular}.${info.group}/${name}`;

export async function apply(client: GantryClient, registry: CrdKinds, files: string[], namespace: string | undefined, io: CommandIO): Promise<number> {
  const { docs, failed: readFailures } = await readDocs(files, io);
  let failed = readFailures;
  for (const { source, value } of docs) {
    try {
      const info = kindOf(registry, String(value.kind ?? ''));
      const name = value.metadata?.name;
      if (!name) throw new ApiError('metadata.name is required', 0);
      const ns = info.scope === 'Namespaced' ? (value.metadata.namespace ?? namespace ?? 'default') : undefined;
      io.out(`${label(info, name)} ${await applyOne(client, info, ns, value)}`);
    } catch (err) {
      io.err(`error: ${source}: ${(err as Error).message}`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

async function applyOne(client: GantryClient, info: KindInfo, ns: string | undefined, desired: Resource): Promise<string> {
  const name = desired.metadata.name;
  for (let attempt = 0; ; attempt++) {
    let current: Resource | undefined;
    try {
      current = await client.get(info, ns, name);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
    try {
      if (!current) {
        await client.request('POST', client.path(info, ns), { ...desired, metadata: { ...desired.metadata, namespace: ns } });
        return 'created';
      }
      const next = {
        ...current,
        metadata: { ...current.metadata, labels: desired.metadata.labels, annotations: desired.metadata.annotations },
        spec: mergeDeclaredSpec(info.kind, desired.spec, current.spec),
      };
      const written = await client.request<Resource>('PUT', client.path(info, ns, name), next);
      return written.metadata.resourceVersion === current.metadata.resourceVersion ? 'unchanged' : 'configured';
    } catch (err) {
      // Someone (a controller writing status, another apply) raced us: read again and retry.
      if (err instanceof ApiError && err.status === 409 && attempt < 5) continue;
      throw err;
    }
  }
}

export interface GetOptions {
  namespace?: string;
  allNamespaces?: boolean;
  output?: string;
  selector?: string;
}

export async function get(client: GantryClient, registry: CrdKinds, kind: string, name: string | undefined, opts: GetOptions, io: CommandIO): Promise<number> {
  const info = kindOf(registry, kind);
  const ns = info.scope === 'Namespaced' && !opts.allNamespaces ? (opts.namespace ?? 'default') : undefined;
  let items: Resource[];
  if (name) {
    items = [await client.get(info, ns, name)];
  } else {
    const qs = opts.selector ? `?labelSelector=${encodeURIComponent(opts.selector)}` : '';
    items = (await client.request<{ items: Resource[] }>('GET', client.path(info, ns) + qs)).items;
  }
  const single = name !== undefined;
  switch (opts.output) {
    case 'json':
      io.out(JSON.stringify(single ? items[0] : { apiVersion: 'v1', kind: 'List', items }, null, 2));
      break;
    case 'yaml':
      io.out(stringify(single ? items[0] : { apiVersion: 'v1', kind: 'List', items }).trimEnd());
      break;
    case 'name':
      for (const i of items) io.out(label(info, i.metadata.name));
      break;
    case undefined:
    case 'wide':
      if (!items.length) {
        io.err(ns ? `No resources found in ${ns} namespace.` : 'No resources found.');
        break;
      }
      io.out(renderTable(info, items, { allNamespaces: opts.allNamespaces, wide: opts.output === 'wide' }));
      break;
    default:
      throw new ApiError(`unknown output format "${opts.output}" (use yaml, json, name or wide)`, 0);
  }
  return 0;
}

export async function remove(client: GantryClient, registry: CrdKinds, kind: string | undefined, names: string[], opts: { namespace?: string; files?: string[] }, io: CommandIO): Promise<number> {
  const targets: { info: KindInfo; ns: string | undefined; name: string }[] = [];
  let failed = 0;
  if (opts.files?.length) {
    const { docs, failed: f } = await readDocs(opts.files, io);
    failed += f;
    for (const { value } of docs) {
      const info = kindOf(registry, String(value.kind));
      targets.push({ info, ns: info.scope === 'Namespaced' ? (value.metadata.namespace ?? opts.namespace ?? 'default') : undefined, name: value.metadata.name });
    }
  } else {
    if (!kind || !names.length) throw new ApiError('usage: gantry delete KIND NAME... | gantry delete -f FILE', 0);
    const info = kindOf(registry, kind);
    for (const name of names) targets.push({ info, ns: info.scope === 'Namespaced' ? (opts.namespace ?? 'default') : undefined, name });
  }
  for (const t of targets) {
    try {
      await client.request('DELETE', client.path(t.info, t.ns, t.name));
      io.out(`${t.info.singular}.${t.info.group} "${t.name}" deleted`);
    } catch (err) {
      io.err(`error: ${(err as Error).message}`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}
