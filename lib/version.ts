import { readFileSync } from 'node:fs';
import { packagePath } from './package-files.ts';

/** The version in package.json: one source for the CLI, the API and agents' handshakes. */
export const GANTRY_VERSION: string = (
  JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }
).version;
