// Catalyst templates ↔ ServerTemplate.
//
// Catalyst describes a template with a flat environment in which some keys are "required variables"
// and values may hold {{VAR}} placeholders. Gantry separates fixed environment (spec.environment)
// from variables (spec.variables: default, required, pattern, who may edit). The mapping:
//
//   dockerImage → image, startCommand → startCommand, stopCommand → stop {type: command, value}
//   (stopSignal: "SIGTERM" → stop {type: signal}), ports[].internal → ports[].containerPort (host
//   ports are allocated per server from the node's range, so `external` is not kept; it is answered
//   as the internal port, the host port a server gets when it asks for the same number),
//   environment + requiredVariables → variables (every required name, every {{VAR}} placeholder that is
//   not a built-in, and every key that refers to itself) and environment (the other, fixed keys),
//   features.configFiles (paths) → configFiles (parser from the extension, nothing replaced yet).
//
// Extra fields in both directions carry what Catalyst cannot say: variables (with pattern and
// editability), configFiles (with replacements), readyPattern, install, resources, dataPath, images.
import type { ConfigFile, ConfigFileParser, ServerTemplate, ServerTemplateSpec, TemplatePort, TemplateVariable } from '../../crds/types.ts';
import { API_VERSION } from '../../crds/resource.ts';
import { badRequest } from '../http/errors.ts';
import { resourceName } from './common.ts';

export interface CatalystTemplatePort {
  internal: number;
  external?: number;
  protocol?: 'TCP' | 'UDP';
  name?: string;
}

/** The body of POST/PUT /api/templates (PUT: every field optional, the rest is kept). */
export interface CatalystTemplateInput {
  id?: string;
  name?: string;
  description?: string;
  dockerImage?: string;
  startCommand?: string;
  stopCommand?: string;
  stopSignal?: string;
  ports?: CatalystTemplatePort[];
  environment?: Record<string, string>;
  requiredVariables?: string[];
  features?: Record<string, unknown>;
  variables?: TemplateVariable[];
  configFiles?: ConfigFile[];
  readyPattern?: string;
  install?: { image?: string; script: string; entrypoint?: string } | null;
  resources?: { memoryMb?: number; cpuCores?: number; diskMb?: number };
  dataPath?: string;
  images?: Record<string, string>;
}

/** Variables Gantry sets itself; a {{SERVER_PORT}} placeholder does not make a template variable. */
export function isBuiltinVariable(name: string): boolean {
  return ['SERVER_PORT', 'SERVER_IP', 'SERVER_MEMORY', 'SERVER_NAME', 'SERVER_UUID'].includes(name) || /^SERVER_PORT_[A-Z0-9_]+$/.test(name);
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;
const VAR_NAME = /^[A-Z_][A-Z0-9_]*$/;

function placeholders(s: string | undefined): string[] {
  return s ? [...s.matchAll(PLACEHOLDER)].map((m) => m[1]!) : [];
}

function parserFor(path: string): ConfigFileParser {
  const ext = path.toLowerCase().split('.').pop() ?? '';
  if (ext === 'properties') return 'properties';
  if (ext === 'json') return 'json';
  if (ext === 'yaml' || ext === 'yml') return 'yaml';
  if (ext === 'ini' || ext === 'cfg' || ext === 'conf') return 'ini';
  return 'file';
}

const stripSlash = (p: string) => p.replace(/^\/+/, '');

/** The ServerTemplate as Catalyst lists it (plus Gantry's own fields). */
export function toCatalystTemplate(t: ServerTemplate, opts: { revealSecrets?: boolean } = {}): Record<string, unknown> {
  const hide = (v: TemplateVariable) => v.userViewable === false && !opts.revealSecrets;
  const spec = t.spec ?? ({} as ServerTemplateSpec);
  const variables = spec.variables ?? [];
  const environment: Record<string, string> = { ...(spec.environment ?? {}) };
  for (const v of variables) if (!(v.name in environment)) environment[v.name] = hide(v) ? '' : (v.default ?? '');
  const features: Record<string, unknown> = { configFiles: (spec.configFiles ?? []).map((f) => '/' + stripSlash(f.path)) };
  for (const f of spec.features ?? []) features[f] = true;
  const stop = spec.stop ?? {};
  return {
    id: t.metadata.name,
    uuid: t.metadata.uid,
    name: spec.displayName ?? t.metadata.name,
    description: spec.description ?? null,
    dockerImage: spec.image,
    startCommand: spec.startCommand,
    stopCommand: (stop.type ?? 'command') === 'command' ? (stop.value ?? 'stop') : null,
    stopSignal: stop.type === 'signal' ? stop.value : null,
    ports: (spec.ports ?? []).map((p) => ({ internal: p.containerPort, external: p.containerPort, protocol: p.protocol ?? 'TCP', ...(p.name ? { name: p.name } : {}) })),
    environment,
    requiredVariables: variables.filter((v) => v.required).map((v) => v.name),
    features,
    variables: variables.map((v) => (hide(v) ? { ...v, default: undefined } : v)),
    configFiles: spec.configFiles ?? [],
    readyPattern: spec.readyPattern ?? null,
    install: spec.install ?? null,
    resources: spec.resources ?? {},
    dataPath: spec.dataPath ?? '/data',
    images: spec.images ?? {},
    createdAt: t.metadata.creationTimestamp,
  };
}

/**
 * The spec a Catalyst body describes. With `existing` (PUT) every field the body leaves out is kept,
 * and variables keep their descriptions, patterns and editability when the body names them again.
 */
export function fromCatalystTemplate(body: CatalystTemplateInput, existing?: ServerTemplateSpec): ServerTemplateSpec {
  const prev: Partial<ServerTemplateSpec> = existing ?? {};
  const spec: ServerTemplateSpec = { ...(prev as ServerTemplateSpec) };
  if (body.name !== undefined) spec.displayName = body.name;
  if (body.description !== undefined) spec.description = body.description;
  if (body.dockerImage !== undefined) spec.image = body.dockerImage;
  if (body.startCommand !== undefined) spec.startCommand = body.startCommand;
  if (body.stopCommand !== undefined && body.stopSignal !== undefined) throw badRequest('give stopCommand (a console command) or stopSignal (e.g. SIGTERM), not both');
  if (body.stopCommand !== undefined) spec.stop = { type: 'command', value: body.stopCommand };
  if (body.stopSignal !== undefined) spec.stop = { type: 'signal', value: body.stopSignal };
  if (body.ports !== undefined) {
    const seen = new Set<string>();
    spec.ports = body.ports.map((p): TemplatePort => {
      const key = `${p.internal}/${p.protocol ?? 'TCP'}`;
      if (seen.has(key)) throw badRequest(`ports: ${key} is listed twice`);
      seen.add(key);
      return { containerPort: p.internal, protocol: p.protocol ?? 'TCP', ...(p.name ? { name: p.name } : {}) };
    });
  }
  if (body.readyPattern !== undefined) spec.readyPattern = body.readyPattern;
  if (body.install !== undefined) {
    if (body.install === null) delete spec.install;
    else spec.install = body.install;
  }
  if (body.resources !== undefined) spec.resources = body.resources;
  if (body.dataPath !== undefined) spec.dataPath = body.dataPath;
  if (body.images !== undefined) spec.images = body.images;

  // Config files: full objects win; a Catalyst path list keeps what an existing file of that path replaces.
  const featureObj = body.features;
  if (featureObj !== undefined && (typeof featureObj !== 'object' || featureObj === null || Array.isArray(featureObj))) throw badRequest('features must be an object such as {"configFiles": ["/server.properties"]}');
  if (body.configFiles !== undefined) spec.configFiles = body.configFiles.map((f) => ({ ...f, path: stripSlash(f.path) }));
  else if (featureObj && 'configFiles' in featureObj) {
    const paths = featureObj.configFiles;
    if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string' || stripSlash(p) === '')) throw badRequest('features.configFiles must be a list of file paths');
    const old = new Map((prev.configFiles ?? []).map((f) => [stripSlash(f.path), f]));
    spec.configFiles = (paths as string[]).map((p) => old.get(stripSlash(p)) ?? { path: stripSlash(p), parser: parserFor(p), replace: {} });
  }
  if (featureObj) {
    const flags = Object.entries(featureObj).filter(([k, v]) => k !== 'configFiles' && v === true).map(([k]) => k);
    spec.features = flags;
  }

  // Environment and variables.
  if (body.environment !== undefined || body.requiredVariables !== undefined || body.variables !== undefined) {
    const oldVars = new Map((prev.variables ?? []).map((v) => [v.name, v]));
    const vars = new Map<string, TemplateVariable>();
    for (const v of body.variables ?? []) {
      if (vars.has(v.name)) throw badRequest(`variables: ${v.name} is listed twice`);
      vars.set(v.name, { ...v });
    }
    // Without a new environment, keep the old split (fixed environment + variables) as it was.
    const environment: Record<string, string> = body.environment === undefined ? { ...(prev.environment ?? {}) } : {};
    if (body.environment === undefined && body.variables === undefined) for (const [n, v] of oldVars) vars.set(n, { ...v });
    const required = new Set(body.requiredVariables ?? (body.variables === undefined ? [...oldVars.values()].filter((v) => v.required).map((v) => v.name) : []));
    for (const n of required) if (!VAR_NAME.test(n)) throw badRequest(`requiredVariables: "${n}" is not a variable name (capital letters, digits and _)`);
    const asVariable = (name: string): TemplateVariable => {
      let v = vars.get(name);
      if (!v) {
        const old = oldVars.get(name);
        v = old ? { ...old } : { name };
        vars.set(name, v);
      }
      return v;
    };
    for (const [key, value] of Object.entries(body.environment ?? {})) {
      if (typeof value !== 'string') throw badRequest(`environment.${key}: must be a string`);
      const refs = placeholders(value);
      const selfRef = refs.length === 1 && value.trim() === `{{${key}}}`;
      if ((required.has(key) || selfRef || vars.has(key)) && VAR_NAME.test(key)) {
        // A key that is a variable: its value is the default (a self-reference has none).
        const v = asVariable(key);
        if (!selfRef && !refs.length) v.default = value;
        continue;
      }
      environment[key] = value;
    }
    for (const n of required) asVariable(n).required = true;
    for (const v of vars.values()) if (!required.has(v.name) && body.requiredVariables !== undefined) v.required = false;
    // Placeholders that name neither a variable nor a built-in become optional variables, so they resolve.
    const texts = [spec.startCommand, ...Object.values(environment), ...(spec.configFiles ?? []).flatMap((f) => Object.values(f.replace))];
    for (const t of texts) for (const n of placeholders(t)) if (!isBuiltinVariable(n) && VAR_NAME.test(n) && !vars.has(n)) asVariable(n);
    spec.environment = environment;
    spec.variables = [...vars.values()];
  }
  if (!spec.image) throw badRequest('dockerImage is required', 'invalid_body');
  if (!spec.startCommand) throw badRequest('startCommand is required', 'invalid_body');
  return spec;
}

export function newTemplate(body: CatalystTemplateInput): ServerTemplate {
  const name = resourceName('template', body.id, body.name ?? '');
  return { apiVersion: API_VERSION, kind: 'ServerTemplate', metadata: { name }, spec: fromCatalystTemplate(body) };
}

const varSchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: '^[A-Z_][A-Z0-9_]*$', maxLength: 128 },
    displayName: { type: 'string', maxLength: 128 },
    description: { type: 'string', maxLength: 4096 },
    default: { type: 'string', maxLength: 1024 },
    required: { type: 'boolean' },
    pattern: { type: 'string', maxLength: 512 },
    userEditable: { type: 'boolean' },
    userViewable: { type: 'boolean' },
  },
};

/** The request schema (PUT drops `required`). */
export function templateBodySchema(create: boolean): Record<string, unknown> {
  return {
    type: 'object',
    additionalProperties: false,
    ...(create ? { required: ['name', 'dockerImage', 'startCommand'] } : {}),
    properties: {
      ...(create ? { id: { type: 'string', maxLength: 63, description: 'The template id (DNS-1123 label); default: derived from name' } } : {}),
      name: { type: 'string', minLength: 1, maxLength: 128 },
      description: { type: 'string', maxLength: 4096 },
      dockerImage: { type: 'string', minLength: 1, maxLength: 512 },
      startCommand: { type: 'string', minLength: 1, maxLength: 4096 },
      stopCommand: { type: 'string', minLength: 1, maxLength: 256, description: 'Console command that stops the server gracefully' },
      stopSignal: { type: 'string', pattern: '^SIG[A-Z0-9]+$', description: 'Or: the signal that stops it (instead of stopCommand)' },
      ports: {
        type: 'array',
        maxItems: 64,
        items: {
          type: 'object',
          required: ['internal'],
          additionalProperties: false,
          properties: {
            internal: { type: 'integer', minimum: 1, maximum: 65535 },
            external: { type: 'integer', minimum: 0, maximum: 65535, description: 'Accepted for Catalyst clients; host ports are allocated per server' },
            protocol: { type: 'string', enum: ['TCP', 'UDP'] },
            name: { type: 'string', maxLength: 63 },
          },
        },
      },
      environment: { type: 'object', additionalProperties: { type: 'string', maxLength: 32768 } },
      requiredVariables: { type: 'array', maxItems: 128, items: { type: 'string', maxLength: 128 } },
      features: { type: 'object' },
      variables: { type: 'array', maxItems: 128, items: varSchema },
      configFiles: {
        type: 'array',
        maxItems: 64,
        items: {
          type: 'object',
          required: ['path', 'parser', 'replace'],
          additionalProperties: false,
          properties: {
            path: { type: 'string', minLength: 1, maxLength: 1024 },
            parser: { type: 'string', enum: ['properties', 'json', 'yaml', 'ini', 'file'] },
            replace: { type: 'object', additionalProperties: { type: 'string' } },
          },
        },
      },
      readyPattern: { type: 'string', maxLength: 1024 },
      install: {
        type: 'object',
        nullable: true,
        required: ['script'],
        additionalProperties: false,
        properties: { image: { type: 'string', minLength: 1 }, script: { type: 'string', minLength: 1 }, entrypoint: { type: 'string', minLength: 1 } },
      },
      resources: {
        type: 'object',
        additionalProperties: false,
        properties: { memoryMb: { type: 'integer' }, cpuCores: { type: 'number' }, diskMb: { type: 'integer' } },
      },
      dataPath: { type: 'string' },
      images: { type: 'object', additionalProperties: { type: 'string' } },
    },
  };
}
