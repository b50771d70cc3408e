// Per-server subuser grants, keyed by the server's uid: a server deleted and created again under the
// same name has another uid, so a grant on the old one can never open the new one. The namespace and
// name are kept beside the uid for lists and audit, never for authorisation.
//
// Rows of the first schema (`server_subusers`, keyed by namespace/name) are adopted at start by
// adoptNameKeyed(): each is given the uid of the server of that name as it exists now; rows of servers
// that no longer exist are dropped. The table is in the accounts database; AccountStore owns it.
import type { SqlDb } from '../../controller/store/sql-db.ts';
import type { GoneServer } from '../../controller/lifecycle/server-reaper.ts';

/** A server as grants know it. */
export interface ServerKey {
  uid: string;
  namespace: string;
  name: string;
}

/** A GameServer, or anything carrying its metadata. */
export interface ServerRef {
  metadata: { uid?: string; name: string; namespace?: string };
}

export function serverKeyOf(s: ServerRef): ServerKey | undefined {
  return s.metadata.uid ? { uid: s.metadata.uid, namespace: s.metadata.namespace ?? 'default', name: s.metadata.name } : undefined;
}

export const SERVER_GRANTS_MIGRATION = {
  version: 2,
  description: 'subuser grants keyed by server uid',
  up: `
    CREATE TABLE server_grants (
      server_uid TEXT NOT NULL, namespace TEXT NOT NULL, server TEXT NOT NULL,
      user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      permissions TEXT NOT NULL, created_at TEXT NOT NULL,
      PRIMARY KEY (server_uid, user_id)
    );
    CREATE INDEX server_grants_user ON server_grants(user_id);
  `,
};

interface Entry {
  key: ServerKey;
  users: Map<string, string[]>;
}

export class ServerGrants {
  private readonly byUid = new Map<string, Entry>();

  constructor(
    private readonly db: SqlDb,
    private readonly iso: () => string,
  ) {}

  async load(): Promise<void> {
    this.byUid.clear();
    for (const r of await this.db.all<{ server_uid: string; namespace: string; server: string; user_id: string; permissions: string }>('SELECT * FROM server_grants')) {
      this.entry({ uid: r.server_uid, namespace: r.namespace, name: r.server }).users.set(r.user_id, JSON.parse(r.permissions) as string[]);
    }
  }

  /**
   * Gives the name-keyed rows of the first schema the uid of the server that has the name now, and
   * drops those of servers that no longer exist. Returns how many were adopted and dropped.
   */
  async adoptNameKeyed(resolve: (namespace: string, name: string) => Promise<ServerKey | undefined>): Promise<{ adopted: number; dropped: number }> {
    const legacy = await this.db.all<{ namespace: string; server: string; user_id: string; permissions: string; created_at: string }>('SELECT * FROM server_subusers');
    if (!legacy.length) return { adopted: 0, dropped: 0 };
    const keys = new Map<string, ServerKey | undefined>();
    for (const r of legacy) {
      const k = `${r.namespace}/${r.server}`;
      if (!keys.has(k)) keys.set(k, await resolve(r.namespace, r.server));
    }
    let adopted = 0;
    await this.db.transaction(async (tx) => {
      for (const r of legacy) {
        const key = keys.get(`${r.namespace}/${r.server}`);
        if (!key) continue;
        await tx.run('INSERT OR IGNORE INTO server_grants (server_uid, namespace, server, user_id, permissions, created_at) VALUES (?, ?, ?, ?, ?, ?)', [key.uid, key.namespace, key.name, r.user_id, r.permissions, r.created_at]);
        adopted++;
      }
      await tx.run('DELETE FROM server_subusers');
    });
    await this.load();
    return { adopted, dropped: legacy.length - adopted };
  }

  get(userId: string, server: ServerRef): string[] | undefined {
    const uid = server.metadata.uid;
    return uid ? this.byUid.get(uid)?.users.get(userId) : undefined;
  }

  /** The grant recorded under a server's namespace/name (for callers that only have the name). */
  getByName(userId: string, namespace: string, name: string): string[] | undefined {
    for (const e of this.byUid.values()) if (e.key.namespace === namespace && e.key.name === name && e.users.has(userId)) return e.users.get(userId);
    return undefined;
  }

  list(server: ServerRef): { userId: string; permissions: string[] }[] {
    const uid = server.metadata.uid;
    const e = uid ? this.byUid.get(uid) : undefined;
    return [...(e?.users ?? new Map<string, string[]>())].map(([userId, permissions]) => ({ userId, permissions }));
  }

  grantedTo(userId: string): ServerKey[] {
    return [...this.byUid.values()].filter((e) => e.users.has(userId)).map((e) => ({ ...e.key }));
  }

  async set(key: ServerKey, userId: string, permissions: string[]): Promise<void> {
    await this.db.run(
      'INSERT INTO server_grants (server_uid, namespace, server, user_id, permissions, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (server_uid, user_id) DO UPDATE SET permissions = excluded.permissions',
      [key.uid, key.namespace, key.name, userId, JSON.stringify(permissions), this.iso()],
    );
    this.entry(key).users.set(userId, permissions);
  }

  async remove(uid: string, userId: string): Promise<boolean> {
    const r = await this.db.run('DELETE FROM server_grants WHERE server_uid = ? AND user_id = ?', [uid, userId]);
    const e = this.byUid.get(uid);
    e?.users.delete(userId);
    if (e && e.users.size === 0) this.byUid.delete(uid);
    return r.changes > 0;
  }

  /** Drops every grant on these servers; returns who held one, per server. */
  async forget(gone: readonly GoneServer[]): Promise<{ key: ServerKey; userIds: string[] }[]> {
    const uids = gone.map((g) => g.uid);
    if (!uids.length) return [];
    for (let i = 0; i < uids.length; i += 500) {
      const chunk = uids.slice(i, i + 500);
      await this.db.run(`DELETE FROM server_grants WHERE server_uid IN (${chunk.map(() => '?').join(', ')})`, chunk);
    }
    const out: { key: ServerKey; userIds: string[] }[] = [];
    for (const uid of uids) {
      const e = this.byUid.get(uid);
      if (!e) continue;
      this.byUid.delete(uid);
      out.push({ key: e.key, userIds: [...e.users.keys()] });
    }
    return out;
  }

  /** The user is gone (its rows go with the users row, in the caller's batch). */
  dropUser(userId: string): void {
    for (const [uid, e] of this.byUid) {
      e.users.delete(userId);
      if (e.users.size === 0) this.byUid.delete(uid);
    }
  }

  uids(): string[] {
    return [...this.byUid.keys()];
  }

  private entry(key: ServerKey): Entry {
    let e = this.byUid.get(key.uid);
    if (!e) this.byUid.set(key.uid, (e = { key: { ...key }, users: new Map() }));
    return e;
  }
}
