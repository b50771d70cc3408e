// Argument parsing for every `gantry` command: node:util's parseArgs, except that a string option
// followed by a negative number takes it as its value. parseArgs refuses `--sftp-port -1` ("argument is
// ambiguous": the value looks like an option), so the form the README documents failed and only
// `--sftp-port=-1` worked. A negative number is never an option name here, so joining it is safe;
// anything else that starts with `-` is still an option (a forgotten value stays an error).
import { parseArgs, type ParseArgsConfig } from 'node:util';

const NEGATIVE_NUMBER = /^-\d+(\.\d+)?$/;

/** `--name -1` / `-n -1` → `--name=-1` / `-n-1` for the config's string options; other arguments untouched. */
export function joinNegativeValues(args: readonly string[], options: ParseArgsConfig['options'] = {}): string[] {
  const stringLong = new Set<string>();
  const stringShort = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== 'string') continue;
    stringLong.add(name);
    if (o.short) stringShort.add(o.short);
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (next !== undefined && NEGATIVE_NUMBER.test(next)) {
      if (a.startsWith('--') && stringLong.has(a.slice(2))) {
        out.push(`${a}=${next}`);
        i++;
        continue;
      }
      if (/^-[^-]$/.test(a) && stringShort.has(a.slice(1))) {
        out.push(`${a}${next}`);
        i++;
        continue;
      }
    }
    out.push(a);
  }
  return out;
}

/** parseArgs with negative numbers accepted as values of string options (see above). */
export function parseCliArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  return parseArgs({ ...config, args: joinNegativeValues(config.args ?? [], config.options) } as T) as ReturnType<typeof parseArgs<T>>;
}
