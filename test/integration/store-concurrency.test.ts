// Optimistic concurrency: read-modify-write loops that retry on Conflict lose no update.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Resource } from '../../crds/resource.ts';
import { isStoreError } from '../../controller/store/errors.ts';
import { gs, openTmpStore, type TmpStore } from './fixtures/store-schema.ts';

// Every case runs with the body cache (the default) and without it (every read from SQLite).
const CACHE_MODES = [['cached', {}], ['uncached', { cacheSize: 0 }]] as const;

describe.each(CACHE_MODES)('SqliteStore: concurrent read-modify-write (%s)', (_mode, cacheOpts) => {
  let env: TmpStore;
  beforeEach(async () => {
    env = await openTmpStore(cacheOpts);
  });
  afterEach(() => env.cleanup());

  it('20 loops × 10 increments with retry on Conflict end at exactly 200', async () => {
    const { store } = env;
    await store.create(gs('counter', { counter: 0 }));
    let conflicts = 0;
    const loop = async () => {
      for (let i = 0; i < 10; i++) {
        for (;;) {
          const cur = await store.get<Resource<{ counter: number }>>('GameServer', 'default', 'counter');
          // Yield between read and write so the loops really interleave.
          await new Promise((r) => setImmediate(r));
          try {
            await store.update({ ...cur, spec: { ...cur.spec!, counter: cur.spec!.counter + 1 } });
            break;
          } catch (err) {
            if (!isStoreError(err, 'Conflict')) throw err;
            conflicts++;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: 20 }, loop));
    const final = await store.get<Resource<{ counter: number }>>('GameServer', 'default', 'counter');
    expect(final.spec!.counter).toBe(200);
    expect(final.metadata.generation).toBe(201);
    expect(conflicts).toBeGreaterThan(0); // the test exercised the Conflict path
  });

  it('concurrent creates of one name: exactly one wins, the rest are AlreadyExists', async () => {
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => env.store.create(gs('same'))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(isStoreError(r.reason, 'AlreadyExists')).toBe(true);
  });
});
