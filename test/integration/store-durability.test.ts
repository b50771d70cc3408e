// Every write the store acknowledged is still there after the process is killed with SIGKILL.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteDb } from '../../controller/store/sqlite-db.ts';
import { openTmpStore, type TmpStore } from './fixtures/store-schema.ts';
import { compiledPath } from '../../lib/package-files.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

describe('SqliteStore: durability', () => {
  let env: TmpStore;
  beforeEach(async () => {
    env = await openTmpStore();
    await env.store.close(); // the child owns the file until it dies
  });
  afterEach(() => env.cleanup());

  it('kill -9 mid-burst loses no acknowledged create', async () => {
    const child = spawn(process.execPath, [compiledPath('test/integration/fixtures/store-writer.ts'), env.file], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const acked: string[] = [];
    let buf = '';
    let ready = false;
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!; // a partial line was not fully acknowledged: ignore it
        for (const line of lines) {
          if (line === 'ready') ready = true;
          else if (line) acked.push(line);
        }
        if (ready && acked.length >= 150) resolve();
      });
      child.on('exit', () => reject(new Error(`writer exited early: ${stderr}`)));
      setTimeout(() => reject(new Error(`writer too slow: ${acked.length} acked; ${stderr}`)), 45_000).unref();
    });
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const store = await env.reopen();
    const names = new Set((await store.list('GameServer')).items.map((o) => o.metadata.name));
    const missing = acked.filter((n) => !names.has(n));
    expect(missing).toEqual([]);
    expect(names.size).toBeGreaterThanOrEqual(acked.length);
    // The version counter continues after the last write that made it, not before.
    expect(Number(await store.currentResourceVersion())).toBe(names.size);
    await store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'after-crash' }, spec: {} });
    await store.close();

    const db = await SqliteDb.open(env.file);
    expect(await db.get('PRAGMA integrity_check')).toEqual({ integrity_check: 'ok' });
    await db.close();
  });
});
