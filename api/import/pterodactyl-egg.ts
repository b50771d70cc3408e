// Pterodactyl eggs (PTDL_v1 / PTDL_v2 JSON exports) → a ServerTemplate spec. Pure: the API's import
// route (api/routes/template-import.ts) and anything else can use it; what cannot be carried over is
// reported in `warnings`, never dropped silently.
//
// Mapping: docker_images (v2) / docker_image (v1) → image (+ images by label); startup → startCommand
// ({{VAR}} placeholders are Gantry's syntax too); config.stop → stop ("^C" = SIGINT, else a console
// command); config.startup.done → readyPattern (the egg's literal text, escaped, or its "regex:");
// config.files → configFiles (Wings' {{server.build.default.port}}, {{server.build.env.X}} and
// {{env.X}} placeholders become {{SERVER_PORT}} and {{X}}); scripts.installation → install;
// variables → variables (env_variable, default_value, user_viewable/user_editable, rules → required
// and a pattern for regex:, in:, numeric/integer, max:N).
import type { ConfigFile, ConfigFileParser, ServerTemplateSpec, TemplateVariable } from '../../crds/types.ts';
import { badRequest } from '../http/errors.ts';

export interface EggImport {
  name: string;
  spec: ServerTemplateSpec;
  warnings: string[];
}

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const VAR_NAME = /^[A-Z_][A-Z0-9_]*$/;
const PARSERS: ReadonlySet<string> = new Set(['properties', 'json', 'yaml', 'ini', 'file']);

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Eggs keep config blocks as JSON strings inside the JSON; some exports inline them. */
function embedded(v: unknown, where: string, warnings: string[]): unknown {
  if (typeof v !== 'string') return v;
  if (v.trim() === '') return undefined;
  try {
    return JSON.parse(v);
  } catch {
    warnings.push(`${where} is not valid JSON and was ignored`);
    return undefined;
  }
}

/** Wings' placeholders → Gantry's. */
export function mapPlaceholders(text: string): string {
  return text
    .replace(/\{\{\s*server\.build\.default\.port\s*\}\}/g, '{{SERVER_PORT}}')
    .replace(/\{\{\s*server\.build\.default\.ip\s*\}\}/g, '{{SERVER_IP}}')
    .replace(/\{\{\s*server\.build\.memory\s*\}\}/g, '{{SERVER_MEMORY}}')
    .replace(/\{\{\s*(?:server\.build\.env|env)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_m, n: string) => `{{${n}}}`);
}

/** Laravel validation rules (`required|string|max:20`) → required and a pattern. */
export function rulesToConstraints(rules: string): { required: boolean; pattern?: string } {
  const parts = rules.split('|').map((r) => r.trim()).filter(Boolean);
  const required = parts.includes('required');
  const regex = parts.find((r) => r.startsWith('regex:'));
  if (regex) {
    const m = /^regex:\/(.*)\/([a-z]*)$/.exec(regex);
    return { required, pattern: m ? m[1] : regex.slice('regex:'.length) };
  }
  const oneOf = parts.find((r) => r.startsWith('in:'));
  if (oneOf) return { required, pattern: `^(${oneOf.slice(3).split(',').map(escapeRe).join('|')})$` };
  if (parts.includes('integer') || parts.includes('numeric')) return { required, pattern: '^-?[0-9]+(\\.[0-9]+)?$'.replace(parts.includes('integer') ? '(\\.[0-9]+)?' : '', '') };
  if (parts.includes('boolean')) return { required, pattern: '^(0|1|true|false)$' };
  const max = parts.find((r) => /^max:\d+$/.test(r));
  if (max && parts.includes('string')) return { required, pattern: `^.{0,${max.slice(4)}}$` };
  return { required };
}

export function convertEgg(egg: unknown): EggImport {
  if (!isObj(egg)) throw badRequest('the egg must be a JSON object (a Pterodactyl egg export)', 'invalid_egg');
  const warnings: string[] = [];
  const meta = isObj(egg.meta) ? egg.meta : {};
  const version = str(meta.version);
  if (version && !/^PTDL_v[12]$/.test(version)) warnings.push(`egg format ${version} is not PTDL_v1/PTDL_v2; converted as v2`);
  const name = str(egg.name)?.trim();
  if (!name) throw badRequest('the egg has no "name"', 'invalid_egg');

  // Images: v2 has a label → image map, v1 a single image.
  const images: Record<string, string> = {};
  if (isObj(egg.docker_images)) for (const [label, img] of Object.entries(egg.docker_images)) if (typeof img === 'string' && img) images[label] = img;
  const image = Object.values(images)[0] ?? str(egg.docker_image);
  if (!image) throw badRequest('the egg names no image (docker_images or docker_image)', 'invalid_egg');

  const startup = str(egg.startup)?.trim();
  if (!startup) throw badRequest('the egg has no "startup" command', 'invalid_egg');
  const startCommand = mapPlaceholders(startup);
  if (/[|&;<>`]|\$[A-Za-z_{(]/.test(startCommand.replace(/\{\{[^}]*\}\}/g, ''))) {
    warnings.push('the start command uses shell syntax; Gantry runs it without a shell, so edit it (e.g. /bin/sh -c \'...\') before starting a server');
  }

  const config = isObj(egg.config) ? egg.config : {};
  const spec: ServerTemplateSpec = { displayName: name, image, startCommand };
  if (str(egg.description)) spec.description = str(egg.description)!.slice(0, 4096);
  if (Object.keys(images).length > 1) spec.images = images;

  const stop = str(config.stop);
  if (stop === '^C' || stop === '^c') spec.stop = { type: 'signal', value: 'SIGINT' };
  else if (stop) spec.stop = { type: 'command', value: stop };

  const startupCfg = embedded(config.startup, 'config.startup', warnings);
  if (isObj(startupCfg)) {
    const done = startupCfg.done;
    const first = Array.isArray(done) ? done.find((d): d is string => typeof d === 'string') : str(done);
    if (Array.isArray(done) && done.length > 1) warnings.push('config.startup.done lists several ready lines; the first is used');
    if (first) spec.readyPattern = first.startsWith('regex:') ? first.slice(6) : escapeRe(first);
  }

  const files = embedded(config.files, 'config.files', warnings);
  if (isObj(files)) {
    const out: ConfigFile[] = [];
    for (const [path, cfg] of Object.entries(files)) {
      if (!isObj(cfg)) continue;
      const parser = str(cfg.parser) ?? 'file';
      if (!PARSERS.has(parser)) {
        warnings.push(`config file ${path}: parser "${parser}" is not supported (properties, json, yaml, ini, file); left out`);
        continue;
      }
      const replace: Record<string, string> = {};
      if (isObj(cfg.find)) {
        for (const [k, v] of Object.entries(cfg.find)) {
          if (typeof v === 'string') replace[k] = mapPlaceholders(v);
          else warnings.push(`config file ${path}: "${k}" has a conditional replacement, which is not supported; left out`);
        }
      }
      out.push({ path: path.replace(/^\/+/, ''), parser: parser as ConfigFileParser, replace });
    }
    if (out.length) spec.configFiles = out;
  }

  const scripts = isObj(egg.scripts) && isObj(egg.scripts.installation) ? egg.scripts.installation : undefined;
  const script = str(scripts?.script);
  if (script?.trim()) {
    spec.install = { script: script.replace(/\r\n/g, '\n') };
    if (str(scripts?.container)) spec.install.image = str(scripts!.container);
    if (str(scripts?.entrypoint)) spec.install.entrypoint = str(scripts!.entrypoint);
    if (/\/mnt\/server/.test(script)) warnings.push('the install script writes to /mnt/server (Pterodactyl\'s mount); Gantry mounts the data directory at /data: check the script');
  }

  const vars: TemplateVariable[] = [];
  for (const [i, v] of (Array.isArray(egg.variables) ? egg.variables : []).entries()) {
    if (!isObj(v)) continue;
    const env = str(v.env_variable)?.trim() ?? '';
    if (!VAR_NAME.test(env)) {
      warnings.push(`variable ${i + 1} (${str(v.name) ?? '?'}): "${env}" is not a variable name (capital letters, digits, _); left out`);
      continue;
    }
    const { required, pattern } = rulesToConstraints(str(v.rules) ?? '');
    const out: TemplateVariable = { name: env };
    if (str(v.name)) out.displayName = str(v.name)!.slice(0, 128);
    if (str(v.description)) out.description = str(v.description)!.slice(0, 4096);
    const def = v.default_value;
    if (typeof def === 'string' || typeof def === 'number') out.default = String(def);
    if (required) out.required = true;
    if (pattern) out.pattern = pattern;
    if (v.user_editable === false || v.user_editable === 0) out.userEditable = false;
    if (v.user_viewable === false || v.user_viewable === 0) out.userViewable = false;
    vars.push(out);
  }
  if (vars.length) spec.variables = vars;
  if (Array.isArray(egg.file_denylist) && egg.file_denylist.length) warnings.push('file_denylist is not supported (the panel shows every file of the server); left out');
  return { name, spec, warnings };
}
