// Where the package's own files are, the same whether a module runs from the TypeScript sources
// (lib/package-files.ts) or from the build (dist/lib/package-files.js): data files (package.json,
// crds/*.yaml, manifests/examples) stay at the package root and are never copied into dist/.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}: Gantry's files are not where its code is`);
  }
}

/** The package root: the directory holding package.json, crds/, manifests/ and dist/. */
export const PACKAGE_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** A file of the package, by its path from the root (`crds`, `manifests/examples`). */
export const packagePath = (...parts: string[]): string => path.join(PACKAGE_ROOT, ...parts);

/** The compiled JavaScript of a source file (`bin/cli.ts` → ROOT/dist/bin/cli.js), for spawning processes. */
export const compiledPath = (source: string): string => path.join(PACKAGE_ROOT, 'dist', source.replace(/\.ts$/, '.js'));
