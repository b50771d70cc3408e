// Loads the CRD files of this folder (the one schema source), checks they would be accepted by a
// real apiserver (structural schema subset), and validates resources against them with ajv.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { compileRule } from './cel.ts';
import { CRDS_DIR, CrdKinds, DNS1123_LABEL, isMap, isYamlFile, kindInfo, need, readCrds, readDirSync, withWhere, type KindInfo } from './kinds.ts';
import { API_VERSION, GROUP, VERSION, type FieldError, type Resource } from './resource.ts';

export type { KindInfo, PrinterColumn } from './kinds.ts';

type Schema = { [keyword: string]: any };
interface Kind { info: KindInfo; schema: Schema; check: ValidateFunction }

const addFormats = addFormatsModule.default;

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

// What a Kubernetes structural schema may use and ajv understands the same way. Anything else is
// refused at load time, so a schema that passes here means the same thing in both places.
const KEYWORDS = new Set([
  'type', 'description', 'title', 'properties', 'additionalProperties', 'items', 'required', 'enum', 'default',
  'format', 'pattern', 'minimum', 'maximum', 'multipleOf', 'minLength', 'maxLength', 'minItems', 'maxItems',
  'minProperties', 'maxProperties',
  'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-validations',
  'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-map-type',
]);
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
const FORMATS = new Set(['date-time', 'date']);

const seg = (key: string) => (IDENTIFIER.test(key) ? `.${key}` : `[${key}]`);
const join = (base: string, key: string) => (base ? base + seg(key) : key);
const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

export class CrdRegistry extends CrdKinds {
  private constructor(
    private readonly byKind: Map<string, Kind>,
    private readonly docs: unknown[],
  ) {
    super(new Map([...byKind].map(([name, k]) => [name, k.info])));
  }

  static async load(dir: string = CRDS_DIR): Promise<CrdRegistry> {
    const files = (await readdir(dir)).filter(isYamlFile).sort();
    const texts = await Promise.all(files.map((f) => readFile(path.join(dir, f), 'utf8')));
    return CrdRegistry.build(files.map((f, i) => ({ file: path.join(dir, f), text: texts[i] })));
  }

  static override loadSync(dir: string = CRDS_DIR): CrdRegistry {
    return CrdRegistry.build(readDirSync(dir));
  }

  private static build(files: { file: string; text: string }[]): CrdRegistry {
    const ajv = newAjv();
    const byKind = new Map<string, Kind>();
    const docs: unknown[] = [];
    for (const { where, crd } of readCrds(files)) {
      const kind = withWhere(where, () => compileCrd(crd, ajv));
      if (byKind.has(kind.info.kind)) throw new Error(`invalid CRD file ${where}: kind ${kind.info.kind} is defined twice`);
      byKind.set(kind.info.kind, kind);
      docs.push(crd);
    }
    return new CrdRegistry(byKind, docs);
  }

  /**
   * Validates a whole object against its kind's openAPIV3Schema, applying schema defaults in place.
   * Returns [] when valid. Unlike an apiserver, which silently prunes fields a structural schema does
   * not declare, an unknown field is rejected ("unknown field") — what kubectl's strict field validation
   * does — because a typo in a hand-written manifest must not vanish without a word.
   */
  validate(obj: Resource): FieldError[] {
    if (!isMap(obj)) return [{ field: '', message: `must be an object, not ${typeOf(obj)}` }];
    const kind = typeof obj.kind === 'string' ? this.byKind.get(obj.kind) : undefined;
    if (!kind) {
      const known = [...this.byKind.keys()].join(', ');
      return [{ field: 'kind', message: obj.kind ? `unknown kind "${String(obj.kind)}" (known: ${known})` : `Required value (one of ${known})` }];
    }
    const { metadata, ...rest } = obj;
    dropNulls(rest, obj);
    const errors = metadataErrors(metadata);
    if (obj.apiVersion !== kind.info.apiVersion) {
      errors.unshift({ field: 'apiVersion', message: obj.apiVersion ? `must be ${kind.info.apiVersion} for kind ${kind.info.kind}, not "${String(obj.apiVersion)}"` : `Required value (${kind.info.apiVersion})` });
    }
    const schemaValid = kind.check(obj);
    for (const e of kind.check.errors ?? []) errors.push(fieldError(e, obj));
    extraChecks(kind.schema, obj, '', errors, !schemaValid);
    return [...new Map(errors.map((e) => [`${e.field}\0${e.message}`, e])).values()];
  }

  /** The kind's openAPIV3Schema as written in its CRD (a copy: OpenAPI documents are built from it). */
  schemaOf(kind: string): Record<string, unknown> | undefined {
    const k = this.byKind.get(kind);
    return k ? structuredClone(k.schema) : undefined;
  }

  definitions(): unknown[] {
    return structuredClone(this.docs);
  }
}

function newAjv(): Ajv {
  // strict mode turns a typo in a CRD (`minimun`) into a load error; the x-kubernetes-* keywords are
  // registered as annotations because extraChecks() enforces them.
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, strictTypes: true, strictRequired: true });
  ajv.addVocabulary(['x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-validations', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-map-type']);
  addFormats(ajv, [...FORMATS] as ('date-time' | 'date')[]);
  return ajv;
}

// ---- loading -------------------------------------------------------------------------------------

function compileCrd(crd: any, ajv: Ajv): Kind {
  const info = kindInfo(crd);
  const version = crd.spec.versions[0];
  const schema = version.schema?.openAPIV3Schema;
  need(isMap(schema) && schema.type === 'object', 'spec.versions[0].schema.openAPIV3Schema must be an object schema');
  need(isMap(schema.properties?.metadata) && Object.keys(schema.properties.metadata).join() === 'type' && schema.properties.metadata.type === 'object',
    'the schema of metadata must be exactly {type: object} (the apiserver owns metadata)');
  checkStructural(schema, 'openAPIV3Schema');

  let check: ValidateFunction;
  try {
    check = ajv.compile(closeObjects(schema));
  } catch (err) {
    throw new Error(`openAPIV3Schema does not compile: ${(err as Error).message}`);
  }
  checkDefaults(schema, 'openAPIV3Schema', ajv);

  return { info, schema, check };
}

/** The Kubernetes structural schema rules our files must keep to (apiextensions.k8s.io/v1). */
function checkStructural(node: Schema, at: string): void {
  const fail = (msg: string) => { throw new Error(`${at}: ${msg}`); };
  if (!isMap(node)) fail('a schema must be a mapping');
  for (const key of Object.keys(node)) if (!KEYWORDS.has(key)) fail(`"${key}" is not supported (keep to the Kubernetes structural schema subset)`);
  const free = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (!free && !TYPES.has(node.type)) fail(`type is required and must be one of ${[...TYPES].join(', ')}`);
  if (node.properties !== undefined && node.additionalProperties !== undefined) fail('properties and additionalProperties cannot be used together');
  if (node.additionalProperties !== undefined && !isMap(node.additionalProperties)) fail('additionalProperties must be a schema (false is not allowed in v1)');
  if (node.type === 'array' && !isMap(node.items)) fail('an array needs an items schema');
  if (node.format !== undefined && !FORMATS.has(node.format)) fail(`format "${node.format}" is not supported (use one of ${[...FORMATS].join(', ')})`);
  if (node.pattern !== undefined) {
    // Go's RE2 (apiserver) has no look-around or back-references; JavaScript has. Refuse them.
    if (typeof node.pattern !== 'string' || /\(\?[=!<]|\\[1-9]/.test(node.pattern)) fail('pattern must be a regular expression without look-around or back-references');
    try { new RegExp(node.pattern, 'u'); } catch (err) { fail(`pattern does not compile: ${(err as Error).message}`); }
  }
  if (node.enum !== undefined) {
    const jsType = node.type === 'integer' ? 'number' : node.type;
    if (!Array.isArray(node.enum) || node.enum.some((v: unknown) => typeof v !== jsType)) fail(`enum values must all be of type ${node.type}`);
  }
  const listType = node['x-kubernetes-list-type'];
  if (listType !== undefined) {
    if (node.type !== 'array' || !['atomic', 'set', 'map'].includes(listType)) fail('x-kubernetes-list-type must be atomic, set or map, on an array');
    const keys = node['x-kubernetes-list-map-keys'];
    if (listType === 'map') {
      if (!Array.isArray(keys) || !keys.length || node.items.type !== 'object') fail('a map list needs x-kubernetes-list-map-keys and object items');
      for (const k of keys) {
        const prop = node.items.properties?.[k];
        if (!prop || !['string', 'integer', 'number', 'boolean'].includes(prop.type)) fail(`map key ${k} must be a scalar property of the items`);
        if (!(node.items.required ?? []).includes(k) && prop.default === undefined) fail(`map key ${k} must be required or have a default`);
      }
    } else if (keys !== undefined) fail('x-kubernetes-list-map-keys needs x-kubernetes-list-type: map');
    if (listType === 'set' && !['string', 'integer', 'number', 'boolean'].includes(node.items.type)) fail('a set list needs scalar items');
  }
  for (const [i, v] of (node['x-kubernetes-validations'] ?? []).entries()) {
    if (!isMap(v) || typeof v.rule !== 'string') fail(`x-kubernetes-validations[${i}] needs a rule`);
    for (const key of Object.keys(v)) if (!['rule', 'message', 'fieldPath', 'reason'].includes(key)) fail(`x-kubernetes-validations[${i}].${key} is not supported`);
    try { compileRule(v.rule); } catch (err) { fail((err as Error).message); }
  }
  for (const [name, child] of Object.entries<Schema>(node.properties ?? {})) checkStructural(child, `${at}.properties.${name}`);
  if (node.additionalProperties) checkStructural(node.additionalProperties, `${at}.additionalProperties`);
  if (node.items) checkStructural(node.items, `${at}.items`);
}

/** A copy in which every declared object refuses undeclared fields (see validate()). */
function closeObjects(node: Schema): Schema {
  const out: Schema = { ...node };
  if (node.properties) {
    out.properties = Object.fromEntries(Object.entries<Schema>(node.properties).map(([k, v]) => [k, closeObjects(v)]));
    if (node['x-kubernetes-preserve-unknown-fields'] !== true) out.additionalProperties = false;
  }
  if (isMap(node.additionalProperties)) out.additionalProperties = closeObjects(node.additionalProperties);
  if (node.items) out.items = closeObjects(node.items);
  return out;
}

/** The apiserver refuses a CRD whose defaults do not validate (after their own nested defaults apply). */
function checkDefaults(node: Schema, at: string, ajv: Ajv): void {
  if (node.default !== undefined) {
    const value = structuredClone(node.default);
    const { default: _, ...rest } = closeObjects(node); // ajv's strict mode refuses a default at the root
    const check = ajv.compile(rest);
    const errors: FieldError[] = check(value) ? [] : (check.errors ?? []).map((e) => fieldError(e, value));
    extraChecks(node, value, '', errors, errors.length > 0);
    if (errors.length) throw new Error(`${at}: default ${JSON.stringify(node.default)} is invalid: ${errors.map((e) => `${e.field || '(value)'}: ${e.message}`).join('; ')}`);
  }
  for (const [name, child] of Object.entries<Schema>(node.properties ?? {})) checkDefaults(child, `${at}.properties.${name}`, ajv);
  if (isMap(node.additionalProperties)) checkDefaults(node.additionalProperties, `${at}.additionalProperties`, ajv);
  if (node.items) checkDefaults(node.items, `${at}.items`, ajv);
}

// ---- validation ----------------------------------------------------------------------------------

/** ajv's JSON pointer `/spec/ports/0/hostPort` as a Kubernetes field path `spec.ports[0].hostPort`. */
function fieldPath(pointer: string, root: unknown): string {
  let out = '';
  let cur: any = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out = Array.isArray(cur) ? `${out}[${key}]` : join(out, key);
    cur = cur?.[key];
  }
  return out;
}

function valueAt(pointer: string, root: unknown): unknown {
  let cur: any = root;
  for (const raw of pointer.split('/').slice(1)) cur = cur?.[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  return cur;
}

function fieldError(e: ErrorObject, root: unknown): FieldError {
  const field = fieldPath(e.instancePath, root);
  const p = e.params as Record<string, any>;
  switch (e.keyword) {
    case 'required': return { field: join(field, p.missingProperty), message: 'Required value' };
    case 'additionalProperties': return { field: join(field, p.additionalProperty), message: 'unknown field' };
    case 'enum': return { field, message: `must be one of ${p.allowedValues.join(', ')}` };
    case 'type': return { field, message: `must be ${p.type}, not ${typeOf(valueAt(e.instancePath, root))}` };
    case 'minLength': return { field, message: p.limit === 1 ? 'must not be empty' : `must be at least ${p.limit} characters long` };
    case 'maxLength': return { field, message: `must be at most ${p.limit} characters long` };
    case 'minItems': return { field, message: `must have at least ${p.limit} item${p.limit === 1 ? '' : 's'}` };
    case 'maxItems': return { field, message: `must have at most ${p.limit} items` };
    case 'minProperties': return { field, message: `must have at least ${p.limit} entries` };
    case 'maxProperties': return { field, message: `must have at most ${p.limit} entries` };
    case 'format': return { field, message: p.format === 'date-time' ? 'must be an RFC 3339 date-time such as 2026-01-02T15:04:05Z' : `must be a ${p.format}` };
    default: return { field, message: e.message ?? `failed ${e.keyword}` };
  }
}

/**
 * What ajv does not know: x-kubernetes-list-type uniqueness and x-kubernetes-validations (CEL) rules.
 * When ajv already failed the object, a rule that cannot be evaluated (wrong types) stays quiet: the
 * type error is the one to report.
 */
function extraChecks(node: Schema, value: unknown, at: string, errors: FieldError[], schemaFailed: boolean): void {
  if (value === undefined || !isMap(node)) return;
  for (const v of node['x-kubernetes-validations'] ?? []) {
    let ok: boolean;
    try {
      ok = compileRule(v.rule)(value);
    } catch (err) {
      if (!schemaFailed) errors.push({ field: at, message: `rule "${v.rule}" could not be evaluated: ${(err as Error).message}` });
      continue;
    }
    if (!ok) errors.push({ field: v.fieldPath ? `${at}${v.fieldPath}`.replace(/^\./, '') : at, message: v.message ?? `failed rule: ${v.rule}` });
  }
  if (Array.isArray(value)) {
    const listType = node['x-kubernetes-list-type'];
    if (listType === 'map' || listType === 'set') {
      const keys: string[] | undefined = node['x-kubernetes-list-map-keys'];
      const first = new Map<string, number>();
      value.forEach((item, i) => {
        const id = JSON.stringify(listType === 'set' ? item : keys!.map((k) => (item as any)?.[k]));
        const prev = first.get(id);
        if (prev === undefined) first.set(id, i);
        else {
          const what = listType === 'set' ? JSON.stringify(item) : keys!.map((k) => `${k}=${(item as any)?.[k]}`).join(', ');
          errors.push({ field: `${at}[${i}]`, message: `Duplicate value: ${what} (also at [${prev}])` });
        }
      });
    }
    value.forEach((item, i) => extraChecks(node.items, item, `${at}[${i}]`, errors, schemaFailed));
  } else if (isMap(value)) {
    for (const [k, child] of Object.entries<Schema>(node.properties ?? {})) extraChecks(child, value[k], join(at, k), errors, schemaFailed);
    if (isMap(node.additionalProperties)) for (const [k, v] of Object.entries(value)) extraChecks(node.additionalProperties, v, join(at, k), errors, schemaFailed);
  }
}

/**
 * The apiserver prunes null values of non-nullable fields before defaulting, so `environment:` left
 * empty in YAML means "not set" (and gets its default) rather than an error. None of ours is nullable.
 */
function dropNulls(value: unknown, target: unknown = value): void {
  if (Array.isArray(value)) value.forEach((item) => dropNulls(item));
  else if (isMap(value) && isMap(target)) {
    for (const [k, v] of Object.entries(value)) {
      if (v === null) delete target[k];
      else dropNulls(v);
    }
  }
}

function metadataErrors(meta: unknown): FieldError[] {
  if (meta === undefined) return [{ field: 'metadata', message: 'Required value' }];
  if (!isMap(meta)) return [{ field: 'metadata', message: `must be object, not ${typeOf(meta)}` }];
  const errors: FieldError[] = [];
  if (meta.name === undefined || meta.name === '') errors.push({ field: 'metadata.name', message: 'Required value' });
  else if (typeof meta.name !== 'string' || meta.name.length > 253 || !DNS1123_SUBDOMAIN.test(meta.name)) {
    errors.push({ field: 'metadata.name', message: `${JSON.stringify(meta.name)} is not a valid name: it must be a DNS-1123 subdomain of lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters (e.g. "my-server")` });
  }
  if (meta.namespace !== undefined && (typeof meta.namespace !== 'string' || meta.namespace.length > 63 || !DNS1123_LABEL.test(meta.namespace))) {
    errors.push({ field: 'metadata.namespace', message: `${JSON.stringify(meta.namespace)} is not a valid namespace: it must be a DNS-1123 label of lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters` });
  }
  for (const what of ['labels', 'annotations'] as const) {
    const map = meta[what];
    if (map === undefined || map === null) continue;
    if (!isMap(map)) { errors.push({ field: `metadata.${what}`, message: `must be object, not ${typeOf(map)}` }); continue; }
    for (const [key, value] of Object.entries(map)) {
      const field = `metadata.${what}[${key}]`;
      const keyProblem = qualifiedNameProblem(key);
      if (keyProblem) errors.push({ field, message: `invalid key: ${keyProblem}` });
      if (typeof value !== 'string') errors.push({ field, message: `must be string, not ${typeOf(value)}` });
      else if (what === 'labels' && value !== '' && (value.length > 63 || !QUALIFIED_NAME.test(value))) {
        errors.push({ field, message: `invalid value ${JSON.stringify(value)}: a label value must be empty or at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit` });
      }
    }
    if (what === 'annotations' && JSON.stringify(map).length > 256 * 1024) errors.push({ field: 'metadata.annotations', message: 'must be at most 256 KiB in total' });
  }
  return errors;
}

/** Label and annotation keys: an optional DNS-1123 subdomain prefix and '/', then a name (Kubernetes rules). */
function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return `${JSON.stringify(key)} has more than one '/'`;
  const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]];
  if (prefix !== undefined && (!prefix || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) {
    return `the prefix of ${JSON.stringify(key)} must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')`;
  }
  if (!name || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return `the name part of ${JSON.stringify(key)} must be 1-63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit`;
  }
  return undefined;
}
