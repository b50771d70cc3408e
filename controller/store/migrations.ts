// Versioned schema changes, one list per component (store, events, later users/audit …) so each
// module owns its tables and they can share one database file.
import type { SqlDb, Tx } from './sql-db.ts';

export interface Migration {
  /** 1, 2, 3 … in order; never renumber or edit one that has shipped — add a new one. */
  version: number;
  description: string;
  up: string | ((tx: Tx) => Promise<void>);
}

const BOOTSTRAP = `CREATE TABLE IF NOT EXISTS schema_migrations (
  component   TEXT    NOT NULL,
  version     INTEGER NOT NULL,
  description TEXT    NOT NULL,
  applied_at  TEXT    NOT NULL,
  PRIMARY KEY (component, version)
)`;

/** Applies the migrations of `component` not yet applied, each in its own transaction. Returns the schema version. */
export async function migrate(db: SqlDb, component: string, migrations: readonly Migration[]): Promise<number> {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  sorted.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`${component} migrations must be numbered 1..n without gaps (found ${m.version} at position ${i + 1})`);
  });
  await db.exec(BOOTSTRAP);
  const row = await db.get<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations WHERE component = ?', [component]);
  let current = row?.v ?? 0;
  if (current > sorted.length) {
    // A newer Gantry wrote this file; running older code against it could corrupt data.
    throw new Error(`database ${db.path}: ${component} schema is at version ${current}, this build knows only ${sorted.length}`);
  }
  for (const m of sorted.slice(current)) {
    await db.transaction(async (tx) => {
      if (typeof m.up === 'string') await tx.exec(m.up);
      else await m.up(tx);
      await tx.run('INSERT INTO schema_migrations (component, version, description, applied_at) VALUES (?, ?, ?, ?)', [
        component,
        m.version,
        m.description,
        new Date().toISOString(),
      ]);
    });
    current = m.version;
  }
  return current;
}
