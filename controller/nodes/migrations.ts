// Tables of node enrolment, in the store's database file (component "nodes" of migrations.ts).
// Secrets are never stored: only their SHA-256 (hex). Times are milliseconds since the epoch.
import type { Migration } from '../store/migrations.ts';

export const NODE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'node deployment tokens and node credentials (hashed)',
    up: `
      CREATE TABLE node_deployment_tokens (
        id             INTEGER PRIMARY KEY,
        token_hash     TEXT    NOT NULL UNIQUE,
        node_name      TEXT    NOT NULL,
        node_uid       TEXT    NOT NULL,
        created_at     INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL,
        used_at        INTEGER,               -- kept after use, so a replay can be told "already used"
        revoked_at     INTEGER,               -- a newer token was issued before this one was used
        revoked_reason TEXT
      );
      CREATE INDEX node_deployment_tokens_node ON node_deployment_tokens (node_name);
      CREATE TABLE node_credentials (
        id              INTEGER PRIMARY KEY,
        credential_hash TEXT    NOT NULL UNIQUE,
        node_name       TEXT    NOT NULL,
        node_uid        TEXT    NOT NULL,
        token_id        INTEGER NOT NULL,     -- the deployment token it was exchanged for
        created_at      INTEGER NOT NULL,
        agent_version   TEXT,
        hostname        TEXT,
        revoked_at      INTEGER,
        revoked_reason  TEXT
      );
      CREATE INDEX node_credentials_node ON node_credentials (node_name);
    `,
  },
];
