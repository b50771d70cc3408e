import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests share one Docker engine and a 2-core machine: run files one at a time
    // so timing-sensitive tests (watch latency, kill -9) are not starved.
    fileParallelism: false,
    reporters: ['default'],
    // Spawned processes run the compiled dist/: build it first when a source changed.
    globalSetup: ['test/helpers/build-dist.ts'],
    // Info logs of embedded servers would bury the test report; warnings and errors still show.
    env: { GANTRY_LOG_LEVEL: 'warn' },
  },
});
