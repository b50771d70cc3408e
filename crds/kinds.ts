// The kinds the CRD files of this folder declare: names, scope and printer columns. No schema
// validation (registry.ts adds it with ajv), so a client that only resolves `gs` and prints a table
// loads neither ajv nor the compiled validators.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { packagePath } from '../lib/package-files.ts';
import { API_VERSION, GROUP, VERSION } from './resource.ts';

export interface PrinterColumn { name: string; type: string; jsonPath: string; description?: string; priority?: number }
export interface KindInfo {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  /** `kubectl get gantry` lists every kind of a category. */
  categories: string[];
  scope: 'Namespaced' | 'Cluster';
  group: string; version: string; apiVersion: string;
  printerColumns: PrinterColumn[];
  hasStatusSubresource: boolean;
}

// The CRD YAML files stay beside this module's source; the build (dist/crds/) does not copy them.
export const CRDS_DIR = packagePath('crds');

export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const COLUMN_TYPES = new Set(['integer', 'number', 'string', 'boolean', 'date']);

export const isMap = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function isYamlFile(f: string): boolean {
  return /\.ya?ml$/.test(f) && !f.startsWith('.');
}

/** The CRD documents of a folder's YAML files, each with where it came from (for error messages). */
export function readCrds(files: { file: string; text: string }[]): { where: string; crd: any }[] {
  const out: { where: string; crd: any }[] = [];
  for (const { file, text } of files) {
    const parsed = parseAllDocuments(text);
    if (!Array.isArray(parsed)) continue; // an empty file
    for (const [index, doc] of parsed.entries()) {
      const where = parsed.length > 1 ? `${file} (document ${index + 1})` : file;
      if (doc.errors.length) throw new Error(`invalid CRD file ${where}: ${doc.errors[0].message}`);
      const crd = doc.toJS();
      if (crd != null) out.push({ where, crd });
    }
  }
  return out;
}

export function readDirSync(dir: string): { file: string; text: string }[] {
  return readdirSync(dir).filter(isYamlFile).sort().map((f) => ({ file: path.join(dir, f), text: readFileSync(path.join(dir, f), 'utf8') }));
}

/**
 * The kinds and their names and printer columns, without validators: what a client needs to resolve
 * `gs` and print a table. Compiling the schemas (CrdRegistry) costs most of a CLI command's start.
 */
export class CrdKinds {
  protected constructor(private readonly infos: Map<string, KindInfo>) {}

  static loadSync(dir: string = CRDS_DIR): CrdKinds {
    const infos = new Map<string, KindInfo>();
    for (const { where, crd } of readCrds(readDirSync(dir))) {
      const info = withWhere(where, () => kindInfo(crd));
      if (infos.has(info.kind)) throw new Error(`invalid CRD file ${where}: kind ${info.kind} is defined twice`);
      infos.set(info.kind, info);
    }
    return new CrdKinds(infos);
  }

  kinds(): KindInfo[] {
    return [...this.infos.values()];
  }

  get(kind: string): KindInfo | undefined {
    return this.infos.get(kind);
  }

  /** Accepts what kubectl accepts: kind, plural, singular or short name, any case, optionally `.gantry.dev` qualified. */
  resolve(name: string): KindInfo | undefined {
    let n = name.toLowerCase();
    for (const suffix of [`.${GROUP}`, `.${VERSION}`]) if (n.endsWith(suffix)) n = n.slice(0, -suffix.length);
    return this.kinds().find((k) => [k.kind.toLowerCase(), k.plural, k.singular, ...k.shortNames].includes(n));
  }
}

export function withWhere<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new Error(`invalid CRD file ${where}: ${(err as Error).message}`);
  }
}

export const need = (cond: unknown, msg: string) => { if (!cond) throw new Error(msg); };

/** The names, scope and printer columns of a CRD document, checked. */
export function kindInfo(crd: any): KindInfo {
  need(isMap(crd), 'not a YAML mapping');
  need(crd.apiVersion === 'apiextensions.k8s.io/v1', `apiVersion must be apiextensions.k8s.io/v1, not "${crd.apiVersion}"`);
  need(crd.kind === 'CustomResourceDefinition', `kind must be CustomResourceDefinition, not "${crd.kind}"`);
  const spec = crd.spec;
  need(isMap(spec) && isMap(spec.names), 'spec.names is required');
  const names = spec.names;
  need(spec.group === GROUP, `spec.group must be ${GROUP}`);
  need(spec.scope === 'Namespaced' || spec.scope === 'Cluster', 'spec.scope must be Namespaced or Cluster');
  need(typeof names.kind === 'string' && /^[A-Z][A-Za-z0-9]*$/.test(names.kind), 'spec.names.kind must be a CamelCase name');
  for (const f of ['plural', 'singular'] as const) need(typeof names[f] === 'string' && DNS1123_LABEL.test(names[f]), `spec.names.${f} must be a lowercase name`);
  need(names.listKind === `${names.kind}List`, `spec.names.listKind must be ${names.kind}List`);
  need(crd.metadata?.name === `${names.plural}.${GROUP}`, `metadata.name must be ${names.plural}.${GROUP}`);
  const shortNames: unknown[] = names.shortNames ?? [];
  need(Array.isArray(shortNames) && shortNames.every((s) => typeof s === 'string' && DNS1123_LABEL.test(s)), 'spec.names.shortNames must be lowercase names');
  const categories: unknown[] = names.categories ?? [];
  need(Array.isArray(categories) && categories.every((s) => typeof s === 'string' && DNS1123_LABEL.test(s)), 'spec.names.categories must be lowercase names');
  need(Array.isArray(spec.versions) && spec.versions.length === 1, `spec.versions must hold exactly one version (${VERSION})`);
  const version = spec.versions[0];
  need(version.name === VERSION && version.served === true && version.storage === true, `spec.versions[0] must be ${VERSION}, served and storage`);

  const columns: PrinterColumn[] = (version.additionalPrinterColumns ?? []).map((c: any, i: number) => {
    const at = `spec.versions[0].additionalPrinterColumns[${i}]`;
    need(typeof c?.name === 'string' && c.name && !/\s/.test(c.name), `${at}.name must be a name without spaces`);
    need(COLUMN_TYPES.has(c.type), `${at}.type must be one of ${[...COLUMN_TYPES].join(', ')}`);
    need(typeof c.jsonPath === 'string' && c.jsonPath.startsWith('.'), `${at}.jsonPath must start with "."`);
    const col: PrinterColumn = { name: c.name, type: c.type, jsonPath: c.jsonPath };
    if (c.description !== undefined) col.description = String(c.description);
    if (c.priority !== undefined) col.priority = Number(c.priority);
    return col;
  });
  return {
    kind: names.kind, plural: names.plural, singular: names.singular, shortNames: shortNames as string[], categories: categories as string[],
    scope: spec.scope, group: GROUP, version: VERSION, apiVersion: API_VERSION,
    printerColumns: columns, hasStatusSubresource: isMap(version.subresources?.status),
  };
}
