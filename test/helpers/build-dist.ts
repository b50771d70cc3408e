// vitest's global set-up: compiles dist/ when it is missing or stale (scripts/build.sh, a quick no-op
// otherwise), because tests spawn the compiled JavaScript (`gantry` processes, agent children), while
// the test files themselves run from the sources.
import { execFileSync } from 'node:child_process';
import { packagePath } from '../../lib/package-files.ts';

export function setup(): void {
  execFileSync('bash', [packagePath('scripts/build.sh'), '--quiet'], { stdio: ['ignore', 'inherit', 'inherit'] });
}
