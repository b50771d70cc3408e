// Node enrolment: a GameNode gets a one-time, expiring deployment token; the agent exchanges it once
// for a long-lived node credential, which then authenticates every WebSocket connect.
//
// - Issuing a token rotates: the node's live credentials and its unused, unexpired older tokens are
//   revoked in the same transaction, and a `revoked` event tells the agent hub to disconnect.
// - Deleting the GameNode (seen on a store watch, and by a sweep at start for deletions that happened
//   while Gantry was down) revokes its credentials. authenticate() checks the node too, so a missed
//   event can never let a deleted or re-created node's old agent in.
// - Secrets are stored as SHA-256 only; lookup by hash, then a constant-time comparison.
// - A used token's hash is kept (until RETAIN_MS after it expired) so a replay is told "already used".
import { EventEmitter } from 'node:events';
import type { Resource } from '../../crds/resource.ts';
import type { EnrollResponse } from '../../agent/protocol.ts';
import { rootLogger, type Logger } from '../../lib/log.ts';
import { conflict, isStoreError } from '../store/errors.ts';
import { migrate } from '../store/migrations.ts';
import type { SqlDb } from '../store/sql-db.ts';
import type { ResourceStore, Watch } from '../store/types.ts';
import { NODE_MIGRATIONS } from './migrations.ts';
import { DEPLOYMENT_TOKEN_PREFIX, hashSecret, MAX_SECRET_LENGTH, newSecret, NODE_CREDENTIAL_PREFIX, sameHash } from './secrets.ts';

export const DEFAULT_TOKEN_TTL_MS = 60 * 60 * 1000;
export const MAX_TOKEN_TTL_MS = 30 * 24 * 60 * 60 * 1000;
/** Used, expired and revoked rows are deleted this long after they stopped mattering. */
const RETAIN_MS = 30 * 24 * 60 * 60 * 1000;
const KIND = 'GameNode';

export type EnrollmentErrorCode = 'unknown_token' | 'token_expired' | 'token_used' | 'token_revoked' | 'node_gone';

const HTTP_STATUS: Record<EnrollmentErrorCode, 401 | 410> = {
  unknown_token: 401,
  token_expired: 401,
  token_used: 401,
  token_revoked: 401,
  node_gone: 410,
};

/** Why a deployment token was refused. `message` is meant for the operator, as is. */
export class EnrollmentError extends Error {
  readonly code: EnrollmentErrorCode;
  readonly httpStatus: 401 | 410;
  constructor(code: EnrollmentErrorCode, message: string) {
    super(message);
    this.name = 'EnrollmentError';
    this.code = code;
    this.httpStatus = HTTP_STATUS[code];
  }
}

export interface IssuedToken {
  /** The secret itself: shown once, never stored. */
  token: string;
  nodeName: string;
  nodeUid: string;
  /** RFC 3339. */
  expiresAt: string;
  /** Credentials revoked by this rotation (0 for a node that never enrolled). */
  revokedCredentials: number;
}

export type AuthFailureCode = 'unknown_credential' | 'credential_revoked' | 'node_deleted' | 'node_replaced';
export type AuthResult =
  | { ok: true; nodeName: string; nodeUid: string }
  | { ok: false; code: AuthFailureCode; reason: string };

/** Credentials of a node were revoked: its agent must be disconnected. */
export interface CredentialsRevoked {
  nodeName: string;
  /** Only connections authenticated for this uid; undefined = any. */
  nodeUid?: string;
  cause: 'rotated' | 'deleted' | 'revoked';
  message: string;
}

/** What the agent hub needs: authentication, and word when credentials stop being valid. */
export interface NodeAuthenticator {
  authenticate(credential: string): Promise<AuthResult>;
  /** Returns an unsubscribe function. */
  onRevoked?(listener: (ev: CredentialsRevoked) => void): () => void;
}

export interface NodeEnrollmentOptions {
  db: SqlDb;
  store: ResourceStore;
  log?: Logger;
  /** Clock (ms since the epoch), for tests. */
  now?: () => number;
}

interface TokenRow {
  id: number;
  token_hash: string;
  node_name: string;
  node_uid: string;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
  revoked_reason: string | null;
}

interface CredentialRow {
  id: number;
  credential_hash: string;
  node_name: string;
  node_uid: string;
  revoked_at: number | null;
  revoked_reason: string | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class NodeEnrollment implements NodeAuthenticator {
  private readonly db: SqlDb;
  private readonly store: ResourceStore;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly emitter = new EventEmitter<{ revoked: [CredentialsRevoked] }>();
  private watch: Watch | undefined;
  private rewatchTimer: NodeJS.Timeout | undefined;
  private started = false;

  private constructor(opts: NodeEnrollmentOptions) {
    this.db = opts.db;
    this.store = opts.store;
    this.log = opts.log ?? rootLogger.child({ component: 'enrollment' });
    this.now = opts.now ?? Date.now;
  }

  /** Creates or upgrades the tables. Call start() to follow GameNode deletions. */
  static async open(opts: NodeEnrollmentOptions): Promise<NodeEnrollment> {
    await migrate(opts.db, 'nodes', NODE_MIGRATIONS);
    return new NodeEnrollment(opts);
  }

  /** Follows GameNode deletions, and revokes credentials of nodes deleted while Gantry was down. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.startWatch();
    await this.sweep();
  }

  stop(): void {
    this.started = false;
    clearTimeout(this.rewatchTimer);
    this.watch?.stop();
    this.watch = undefined;
  }

  onRevoked(listener: (ev: CredentialsRevoked) => void): () => void {
    this.emitter.on('revoked', listener);
    return () => this.emitter.off('revoked', listener);
  }

  /**
   * A new one-time deployment token for the GameNode `nodeName` (StoreError NotFound when there is none).
   * Rotates: the node's current credentials and unused older tokens stop working at once.
   */
  async issueDeploymentToken(nodeName: string, ttlMs: number = DEFAULT_TOKEN_TTL_MS): Promise<IssuedToken> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0 || ttlMs > MAX_TOKEN_TTL_MS) {
      throw new RangeError(`token ttl must be more than 0 and at most ${MAX_TOKEN_TTL_MS / 86_400_000} days, not ${ttlMs} ms`);
    }
    const node = await this.store.get(KIND, undefined, nodeName);
    if (node.metadata.deletionTimestamp) throw conflict(KIND, nodeName, 'it is being deleted');
    const nodeUid = node.metadata.uid!;
    const token = newSecret(DEPLOYMENT_TOKEN_PREFIX);
    const now = this.now();
    const expiresAt = now + Math.floor(ttlMs);
    const reason = `a new deployment token was issued at ${iso(now)}`;

    const revokedCredentials = await this.db.transaction(async (tx) => {
      const creds = await tx.run(
        'UPDATE node_credentials SET revoked_at = ?, revoked_reason = ? WHERE node_name = ? AND revoked_at IS NULL',
        [now, reason, nodeName],
      );
      await tx.run(
        'UPDATE node_deployment_tokens SET revoked_at = ?, revoked_reason = ? WHERE node_name = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?',
        [now, reason, nodeName, now],
      );
      await tx.run(
        'INSERT INTO node_deployment_tokens (token_hash, node_name, node_uid, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
        [hashSecret(token), nodeName, nodeUid, now, expiresAt],
      );
      // Housekeeping: rows that can no longer tell anyone anything useful.
      const horizon = now - RETAIN_MS;
      await tx.run('DELETE FROM node_deployment_tokens WHERE expires_at < ? AND (used_at IS NULL OR used_at < ?)', [horizon, horizon]);
      await tx.run('DELETE FROM node_credentials WHERE revoked_at IS NOT NULL AND revoked_at < ?', [horizon]);
      return creds.changes;
    });
    this.log.info('deployment token issued', { node: nodeName, expiresAt: iso(expiresAt), revokedCredentials });
    // Even with nothing revoked in the table, whatever agent is connected for this node must go.
    this.emitRevoked({ nodeName, cause: 'rotated', message: `credential revoked: ${reason}` });
    return { token, nodeName, nodeUid, expiresAt: iso(expiresAt), revokedCredentials };
  }

  /** Exchanges a deployment token for a node credential, once. Throws EnrollmentError saying why not. */
  async enroll(token: string, info: { agentVersion?: string; hostname?: string } = {}): Promise<EnrollResponse> {
    const row = await this.findToken(token);
    if (!row) throw new EnrollmentError('unknown_token', 'unknown deployment token');
    this.checkToken(row);
    const node = await this.liveNode(row.node_name);
    if (!node) throw new EnrollmentError('node_gone', `node "${row.node_name}" no longer exists`);
    if (node.metadata.uid !== row.node_uid) {
      throw new EnrollmentError('node_gone', `node "${row.node_name}" no longer exists (a node of that name was created since; issue a token for it)`);
    }
    if (node.metadata.deletionTimestamp) throw new EnrollmentError('node_gone', `node "${row.node_name}" is being deleted`);

    const credential = newSecret(NODE_CREDENTIAL_PREFIX);
    const now = this.now();
    await this.db.transaction(async (tx) => {
      // The conditional update is what makes the token single-use under concurrent enrolments.
      const used = await tx.run(
        'UPDATE node_deployment_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?',
        [now, row.id, now],
      );
      if (used.changes !== 1) {
        const fresh = await tx.get<TokenRow>('SELECT * FROM node_deployment_tokens WHERE id = ?', [row.id]);
        if (!fresh) throw new EnrollmentError('unknown_token', 'unknown deployment token');
        this.checkToken(fresh, now);
        throw new EnrollmentError('unknown_token', 'unknown deployment token');
      }
      await tx.run(
        `INSERT INTO node_credentials (credential_hash, node_name, node_uid, token_id, created_at, agent_version, hostname)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [hashSecret(credential), row.node_name, row.node_uid, row.id, now, info.agentVersion?.slice(0, 64) ?? null, info.hostname?.slice(0, 253) ?? null],
      );
    });
    this.log.info('node enrolled', { node: row.node_name, agentVersion: info.agentVersion, hostname: info.hostname });
    return { nodeName: row.node_name, nodeUid: row.node_uid, credential };
  }

  /** Who a node credential belongs to, or why it is not accepted. Throws only when the store fails. */
  async authenticate(credential: string): Promise<AuthResult> {
    const unknown: AuthResult = { ok: false, code: 'unknown_credential', reason: 'unknown node credential' };
    if (typeof credential !== 'string' || !credential.startsWith(NODE_CREDENTIAL_PREFIX) || credential.length > MAX_SECRET_LENGTH) return unknown;
    const hash = hashSecret(credential);
    const row = await this.db.get<CredentialRow>('SELECT * FROM node_credentials WHERE credential_hash = ?', [hash]);
    if (!row || !sameHash(row.credential_hash, hash)) return unknown;
    if (row.revoked_at !== null) {
      return { ok: false, code: 'credential_revoked', reason: `node credential was revoked at ${iso(row.revoked_at)} (${row.revoked_reason ?? 'no reason given'})` };
    }
    const node = await this.liveNode(row.node_name);
    if (!node || node.metadata.uid !== row.node_uid) {
      // The deletion was missed (watch gap): revoke now, so the answer stays the same from here on.
      await this.revokeWhere(row.node_name, row.node_uid, node ? 'node was deleted and created again' : 'node was deleted');
      return node
        ? { ok: false, code: 'node_replaced', reason: `node "${row.node_name}" was deleted and created again; enrol it with a new deployment token` }
        : { ok: false, code: 'node_deleted', reason: `node "${row.node_name}" no longer exists` };
    }
    return { ok: true, nodeName: row.node_name, nodeUid: row.node_uid };
  }

  /** Revokes every live credential of a node (e.g. an operator locking it out) and disconnects its agent. */
  async revokeCredentials(nodeName: string, reason = 'revoked by an operator'): Promise<number> {
    const n = await this.revokeWhere(nodeName, undefined, reason);
    this.emitRevoked({ nodeName, cause: 'revoked', message: `credential revoked: ${reason}` });
    return n;
  }

  // ---- internals ----------------------------------------------------------------------------------

  private async findToken(token: string): Promise<TokenRow | undefined> {
    if (typeof token !== 'string' || !token.startsWith(DEPLOYMENT_TOKEN_PREFIX) || token.length > MAX_SECRET_LENGTH) return undefined;
    const hash = hashSecret(token);
    const row = await this.db.get<TokenRow>('SELECT * FROM node_deployment_tokens WHERE token_hash = ?', [hash]);
    return row && sameHash(row.token_hash, hash) ? row : undefined;
  }

  /** Throws the reason a token found in the table cannot be used (checks in the order most useful to read). */
  private checkToken(row: TokenRow, now = this.now()): void {
    if (row.used_at !== null) throw new EnrollmentError('token_used', `deployment token already used at ${iso(row.used_at)}`);
    if (row.revoked_at !== null) {
      throw new EnrollmentError('token_revoked', `deployment token was revoked at ${iso(row.revoked_at)} (${row.revoked_reason ?? 'no reason given'})`);
    }
    if (now >= row.expires_at) throw new EnrollmentError('token_expired', `deployment token expired at ${iso(row.expires_at)}`);
  }

  private async liveNode(name: string): Promise<Resource | undefined> {
    try {
      return await this.store.get<Resource>(KIND, undefined, name);
    } catch (err) {
      if (isStoreError(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  private async revokeWhere(nodeName: string, nodeUid: string | undefined, reason: string): Promise<number> {
    const r = await this.db.run(
      'UPDATE node_credentials SET revoked_at = ?1, revoked_reason = ?2 WHERE node_name = ?3 AND (?4 IS NULL OR node_uid = ?4) AND revoked_at IS NULL',
      [this.now(), reason, nodeName, nodeUid ?? null],
    );
    if (r.changes) this.log.info('node credentials revoked', { node: nodeName, uid: nodeUid, reason, count: r.changes });
    return r.changes;
  }

  private emitRevoked(ev: CredentialsRevoked): void {
    for (const l of this.emitter.listeners('revoked')) {
      try {
        l(ev);
      } catch (err) {
        this.log.error('revocation listener failed', { node: ev.nodeName, err });
      }
    }
  }

  private async startWatch(): Promise<void> {
    this.watch = await this.store.watch({ kind: KIND }, (ev) => {
      if (ev.type === 'DELETED') {
        const { name, uid } = ev.object.metadata;
        void this.onNodeDeleted(name, uid);
      } else if (ev.type === 'ERROR') {
        // The store cut the watch off (it fell behind): watch again and sweep for what was missed.
        this.log.warn('GameNode watch ended; restarting it', { object: ev.object });
        this.watch = undefined;
        this.scheduleRewatch();
      }
    });
  }

  private scheduleRewatch(): void {
    if (!this.started) return;
    this.rewatchTimer = setTimeout(() => {
      this.startWatch().then(
        () => this.sweep(),
        (err) => {
          this.log.error('cannot watch GameNodes', { err });
          this.scheduleRewatch();
        },
      ).catch((err) => this.log.error('credential sweep failed', { err }));
    }, 1000);
    this.rewatchTimer.unref();
  }

  private async onNodeDeleted(name: string, uid: string | undefined): Promise<void> {
    try {
      await this.revokeWhere(name, uid, 'node was deleted');
    } catch (err) {
      this.log.error('cannot revoke the credentials of a deleted node', { node: name, err });
    }
    this.emitRevoked({ nodeName: name, nodeUid: uid, cause: 'deleted', message: `node "${name}" was deleted` });
  }

  /** Revokes live credentials whose node is gone or was re-created. */
  private async sweep(): Promise<void> {
    const rows = await this.db.all<{ node_name: string; node_uid: string }>(
      'SELECT DISTINCT node_name, node_uid FROM node_credentials WHERE revoked_at IS NULL',
    );
    for (const r of rows) {
      const node = await this.liveNode(r.node_name);
      if (!node || node.metadata.uid !== r.node_uid) await this.onNodeDeleted(r.node_name, r.node_uid);
    }
  }
}
