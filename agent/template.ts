// `{{VAR}}` substitution for a server's start command and environment, and the start command's
// parsing into argv. Pure: no I/O, no process.env, no agent configuration — a server's command can only
// ever see the server's own values (template variable defaults, the server's environment, and the
// built-ins the caller derives from the same GameServer, e.g. SERVER_MEMORY / SERVER_PORT).
//
// Command parsing decision: the start command is split into argv with POSIX-shell-like quoting
// ('single', "double", backslash escapes) and run WITHOUT a shell. Reasons:
//   - the game process is PID 1 and receives the stop signal itself (a shell as PID 1 without a trap
//     ignores SIGTERM: every stop would wait the full timeout and end in SIGKILL);
//   - images without a shell (FROM scratch, distroless) work;
//   - the template is tokenised BEFORE substitution, so a value can never change the argv structure:
//     `--motd {{MOTD}}` with MOTD=`a; rm -rf /data` is exactly one argument. No injection.
// Shell syntax a shell would interpret (pipes, redirections, `;`, `&&`, `$VAR`, backticks, `$(...)`)
// is refused with an error that says so; a template that really wants a shell writes
// `/bin/sh -c '...'` explicitly (then the value lands inside that script: the author's choice).

export interface TemplateVariable {
  /** Environment variable name, also the `{{NAME}}` placeholder. */
  name: string;
  default?: string;
  required?: boolean;
  /** ECMAScript regex (OpenAPI `pattern` semantics: unanchored; write ^…$ for a full match). */
  pattern?: string;
  userEditable?: boolean;
  description?: string;
}

export interface TemplateInput {
  startCommand?: string;
  /** Fixed environment of the template; values may use `{{VAR}}`. */
  environment?: Record<string, string>;
  variables?: TemplateVariable[];
}

export interface ResolveInput {
  template: TemplateInput;
  /** The GameServer's spec.environment (variable values and extra variables). */
  serverEnvironment?: Record<string, string>;
  /** Values derived from the GameServer itself (SERVER_MEMORY, SERVER_PORT, SERVER_IP...). */
  builtins?: Record<string, string>;
}

export interface ResolvedStart {
  /** argv for the container (empty: the image's default command). */
  argv: string[];
  /** Display form of argv (quoted where needed), e.g. for status / the console banner. */
  commandLine: string;
  /** The container environment: builtins, template environment, variables, server environment. */
  env: Record<string, string>;
}

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
  constructor(
    message: string,
    /** The variable or field the error is about. */
    readonly field?: string,
  ) {
    super(message);
  }
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PLACEHOLDER_RE = /\{\{([^{}]*)\}\}/g;

/**
 * The values placeholders may draw on, after validation: builtins < variable defaults < server
 * environment. Throws TemplateError for a missing required variable or a value failing its pattern.
 */
export function resolveVariables(input: ResolveInput): Record<string, string> {
  const { template } = input;
  const serverEnv = input.serverEnvironment ?? {};
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.builtins ?? {})) {
    checkName(k, 'builtin');
    values[k] = v;
  }
  const declared = new Set<string>();
  for (const variable of template.variables ?? []) {
    checkName(variable.name, 'variable');
    if (declared.has(variable.name)) throw new TemplateError(`template variable "${variable.name}" is declared twice`, variable.name);
    declared.add(variable.name);
    const value = Object.prototype.hasOwnProperty.call(serverEnv, variable.name) ? serverEnv[variable.name] : variable.default;
    if (value === undefined || value === '') {
      if (variable.required) {
        throw new TemplateError(
          `required variable "${variable.name}" has no value: set it in the server's environment or give the template variable a default`,
          variable.name,
        );
      }
      values[variable.name] = '';
      continue;
    }
    if (variable.pattern !== undefined && variable.pattern !== '') {
      let re: RegExp;
      try {
        re = new RegExp(variable.pattern, 'u');
      } catch (err) {
        throw new TemplateError(`variable "${variable.name}" has an invalid pattern ${JSON.stringify(variable.pattern)}: ${(err as Error).message}`, variable.name);
      }
      if (!re.test(value)) {
        throw new TemplateError(`variable "${variable.name}" value ${JSON.stringify(value)} does not match its pattern ${JSON.stringify(variable.pattern)}`, variable.name);
      }
    }
    values[variable.name] = value;
  }
  for (const [k, v] of Object.entries(serverEnv)) {
    checkName(k, 'environment variable');
    if (!declared.has(k)) values[k] = v;
  }
  for (const [k, v] of Object.entries(values)) {
    if (v.includes('\0')) throw new TemplateError(`variable "${k}" contains a NUL character`, k);
  }
  return values;
}

/**
 * Replaces every `{{NAME}}` (spaces inside the braces allowed) with its value, in one pass: a value
 * containing `{{X}}` is not expanded again. An unknown or malformed placeholder is an error.
 */
export function substitute(text: string, values: Record<string, string>, where = 'text'): string {
  return text.replace(PLACEHOLDER_RE, (_m, inner: string) => {
    const name = inner.trim();
    if (!NAME_RE.test(name)) throw new TemplateError(`${where}: invalid placeholder {{${inner}}}`, where);
    if (!Object.prototype.hasOwnProperty.call(values, name)) {
      throw new TemplateError(`${where}: unknown placeholder {{${name}}} (not a variable of this server's template)`, name);
    }
    return values[name];
  });
}

/** Every placeholder name used in `text` (for validation and UIs). */
export function placeholders(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(PLACEHOLDER_RE)) out.add(m[1].trim());
  return [...out];
}

interface Token {
  text: string;
  /** The token had a quoted part ("" or '' count): it is kept even when it resolves to ''. */
  quoted: boolean;
}

/**
 * Splits a command line into words with POSIX-shell-like quoting. `{{...}}` placeholders are kept
 * verbatim (spaces inside them do not split words). Throws on unbalanced quotes and on shell syntax.
 */
export function tokenize(command: string): Token[] {
  const tokens: Token[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  const shellSyntax = (what: string): never => {
    throw new TemplateError(
      `start command uses shell syntax (${what}) but is run without a shell; write it as /bin/sh -c '...' if the image has a shell`,
      'startCommand',
    );
  };
  const endWord = () => {
    if (inWord) tokens.push({ text: cur, quoted });
    cur = '';
    inWord = false;
    quoted = false;
  };
  let i = 0;
  const n = command.length;
  const readPlaceholder = (): boolean => {
    if (command.startsWith('{{', i)) {
      const close = command.indexOf('}}', i + 2);
      if (close < 0) throw new TemplateError('start command: unterminated placeholder "{{"', 'startCommand');
      cur += command.slice(i, close + 2);
      i = close + 2;
      inWord = true;
      return true;
    }
    return false;
  };
  const checkDollar = () => {
    const next = command[i + 1];
    if (next !== undefined && /[A-Za-z_{(0-9@*#?$!-]/.test(next)) shellSyntax(`$${next}`);
  };
  while (i < n) {
    const c = command[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      endWord();
      i++;
    } else if (readPlaceholder()) {
      // appended
    } else if (c === "'") {
      const close = command.indexOf("'", i + 1);
      if (close < 0) throw new TemplateError('start command: unbalanced single quote', 'startCommand');
      cur += command.slice(i + 1, close);
      inWord = true;
      quoted = true;
      i = close + 1;
    } else if (c === '"') {
      inWord = true;
      quoted = true;
      i++;
      let closed = false;
      while (i < n) {
        const d = command[i];
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (readPlaceholder()) continue;
        if (d === '\\' && i + 1 < n && '"\\$`\n'.includes(command[i + 1])) {
          if (command[i + 1] !== '\n') cur += command[i + 1];
          i += 2;
          continue;
        }
        if (d === '`') shellSyntax('`');
        if (d === '$') checkDollar();
        cur += d;
        i++;
      }
      if (!closed) throw new TemplateError('start command: unbalanced double quote', 'startCommand');
    } else if (c === '\\') {
      if (i + 1 >= n) throw new TemplateError('start command: trailing backslash', 'startCommand');
      if (command[i + 1] !== '\n') {
        cur += command[i + 1];
        inWord = true;
      }
      i += 2;
    } else {
      if ('|&;<>()`'.includes(c)) shellSyntax(c);
      if (c === '$') checkDollar();
      cur += c;
      inWord = true;
      i++;
    }
  }
  endWord();
  return tokens;
}

/** Parses a start command into argv (no placeholders expected; see resolveStart for templates). */
export function parseCommand(command: string): string[] {
  return tokenize(command).map((t) => t.text);
}

/** Quotes argv for display so that parseCommand(formatCommand(argv)) equals argv. */
export function formatCommand(argv: string[]): string {
  return argv
    .map((a) => (a !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}

/**
 * The whole resolution: validated variable values, the start command as argv (tokenised first,
 * then substituted per word; an unquoted word that resolves to '' is dropped as a shell would) and
 * the container environment (template environment values may use placeholders too).
 */
export function resolveStart(input: ResolveInput): ResolvedStart {
  const values = resolveVariables(input);
  const argv: string[] = [];
  for (const token of tokenize(input.template.startCommand ?? '')) {
    const text = substitute(token.text, values, 'startCommand');
    if (text === '' && !token.quoted) continue;
    if (text.includes('\0')) throw new TemplateError('start command: an argument contains a NUL character', 'startCommand');
    argv.push(text);
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.builtins ?? {})) env[k] = v;
  for (const [k, v] of Object.entries(input.template.environment ?? {})) {
    checkName(k, 'environment variable');
    env[k] = substitute(v, values, `environment.${k}`);
  }
  for (const v of input.template.variables ?? []) env[v.name] = values[v.name];
  for (const [k, v] of Object.entries(input.serverEnvironment ?? {})) env[k] = v;
  return { argv, commandLine: formatCommand(argv), env };
}

function checkName(name: string, what: string): void {
  if (!NAME_RE.test(name)) throw new TemplateError(`invalid ${what} name ${JSON.stringify(name)} (letters, digits and _; not starting with a digit)`, name);
}
