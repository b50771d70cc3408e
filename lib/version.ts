import { readFileSync } from 'node:fs';

/** The version in package.json: one source for the CLI, the API and agents' handshakes. */
export const GANTRY_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
