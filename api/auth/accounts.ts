// Users, roles, sessions (refresh-token families), API keys and per-server subuser grants: not desired
// state, so not resources — tables in the embedded SQLite file, owned by this module.
//
// Everything is loaded into memory at open and written through (database first, then the cache), so
// authorising a request costs no query: one process owns the file (see docs/ARCHITECTURE.md).
// Secrets (passwords, refresh tokens, API keys, recovery codes) are stored only as hashes.
import { EventEmitter } from 'node:events';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { SqlDb } from '../../controller/store/sql-db.ts';
import { migrate, type Migration } from '../../controller/store/migrations.ts';
import { ApiError, badRequest, conflict, notFound } from '../http/errors.ts';
import { checkPasswordStrength, hashPassword, verifyPassword, dummyHash } from './passwords.ts';
import { checkGrant, hasPermission } from '../rbac/permissions.ts';
import type { GoneServer, PerServerState } from '../../controller/lifecycle/server-reaper.ts';
import { SERVER_GRANTS_MIGRATION, ServerGrants, serverKeyOf, type ServerKey, type ServerRef } from './server-grants.ts';

export type { ServerKey, ServerRef } from './server-grants.ts';

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'users, roles, sessions, refresh tokens, api keys, subusers',
    up: `
      CREATE TABLE users (
        id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE, username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        totp_secret TEXT, totp_enabled INTEGER NOT NULL DEFAULT 0, totp_last_step INTEGER NOT NULL DEFAULT 0,
        recovery_codes TEXT NOT NULL DEFAULT '[]'
      );
      CREATE TABLE roles (
        id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, description TEXT NOT NULL DEFAULT '',
        permissions TEXT NOT NULL, builtin INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
      );
      CREATE TABLE user_roles (
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, role_id)
      );
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at TEXT NOT NULL, expires_at TEXT NOT NULL, last_used_at TEXT NOT NULL,
        revoked_at TEXT, revoked_reason TEXT, ip TEXT, user_agent TEXT
      );
      CREATE TABLE refresh_tokens (
        hash TEXT PRIMARY KEY, session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        created_at TEXT NOT NULL, used_at TEXT
      );
      CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, name TEXT NOT NULL,
        prefix TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, permissions TEXT NOT NULL,
        created_at TEXT NOT NULL, expires_at TEXT, last_used_at TEXT, revoked_at TEXT
      );
      CREATE TABLE server_subusers (
        namespace TEXT NOT NULL, server TEXT NOT NULL, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        permissions TEXT NOT NULL, created_at TEXT NOT NULL,
        PRIMARY KEY (namespace, server, user_id)
      );
    `,
  },
  SERVER_GRANTS_MIGRATION,
];

export interface User {
  id: string;
  email: string;
  username: string;
  createdAt: string;
  updatedAt: string;
  disabled: boolean;
  totpEnabled: boolean;
}

interface UserRow extends User {
  passwordHash: string;
  totpSecret: string | null;
  totpLastStep: number;
  recoveryCodes: string[];
}

export interface Role {
  id: string;
  name: string;
  description: string;
  permissions: string[];
  builtin: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface Session {
  id: string;
  userId: string;
  createdAt: string;
  expiresAt: string;
  lastUsedAt: string;
  ip?: string;
  userAgent?: string;
}

export interface ApiKey {
  id: string;
  userId: string;
  name: string;
  /** The first characters of the key, to tell keys apart in lists. */
  prefix: string;
  permissions: string[];
  createdAt: string;
  expiresAt?: string;
  lastUsedAt?: string;
}

export interface AccountEvents {
  /** Something that changes what a user may do: deleted, disabled, roles, sessions revoked. */
  userChanged: [userId: string, change: 'deleted' | 'disabled' | 'permissions' | 'sessions'];
  /** A subuser grant on a server was added, changed or removed (also: dropped with the server). */
  serverAccessChanged: [server: ServerKey, userId: string];
}

export const ADMIN_ROLE = 'admin';
export const USER_ROLE = 'user';
export const REFRESH_PREFIX = 'grt_';
export const API_KEY_PREFIX = 'gak_';

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}\.[^\s@]{1,63}$/;
const USERNAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,31}$/;

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const id = () => randomUUID();

export interface AccountStoreOptions {
  db: SqlDb;
  /**
   * The server of a name as it exists now: adopts the name-keyed grants of the first schema at open,
   * and serves the by-name overloads of setServerGrant/removeServerGrant. Without it, those throw.
   */
  resolveServer?: (namespace: string, name: string) => Promise<ServerKey | undefined>;
  now?: () => number;
  /** Lifetime of a session (its refresh tokens); default 30 days. */
  sessionTtlSeconds?: number;
}

export class AccountStore extends EventEmitter<AccountEvents> implements PerServerState {
  readonly stateName = 'subuser grants';
  private readonly db: SqlDb;
  private readonly now: () => number;
  readonly sessionTtlSeconds: number;
  private readonly users = new Map<string, UserRow>();
  private readonly byEmail = new Map<string, string>();
  private readonly byUsername = new Map<string, string>();
  private readonly roles = new Map<string, Role>();
  private readonly userRoles = new Map<string, Set<string>>();
  private readonly sessions = new Map<string, Session>();
  private readonly apiKeys = new Map<string, ApiKey & { hash: string }>();
  private readonly grants: ServerGrants;
  private readonly resolveServer?: (namespace: string, name: string) => Promise<ServerKey | undefined>;
  private readonly lastKeyTouch = new Map<string, number>();

  private constructor(opts: AccountStoreOptions) {
    super();
    this.db = opts.db;
    this.now = opts.now ?? Date.now;
    this.sessionTtlSeconds = opts.sessionTtlSeconds ?? 30 * 86_400;
    this.grants = new ServerGrants(opts.db, () => this.iso());
    this.resolveServer = opts.resolveServer;
  }

  static async open(opts: AccountStoreOptions): Promise<AccountStore> {
    const s = new AccountStore(opts);
    await migrate(opts.db, 'accounts', MIGRATIONS);
    await s.ensureBuiltinRoles();
    await s.load();
    if (opts.resolveServer) await s.grants.adoptNameKeyed(opts.resolveServer);
    return s;
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }

  private async ensureBuiltinRoles(): Promise<void> {
    const t = this.iso();
    await this.db.run(`INSERT OR IGNORE INTO roles (id, name, description, permissions, builtin, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)`,
      [ADMIN_ROLE, 'Administrator', 'Every permission', JSON.stringify(['*']), t, t]);
    // Registered users get this role. Empty by default: they see and act on the servers they own or
    // were given; an operator who sells self-service adds server.create here.
    await this.db.run(`INSERT OR IGNORE INTO roles (id, name, description, permissions, builtin, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)`,
      [USER_ROLE, 'User', 'Given to every registered user', JSON.stringify([]), t, t]);
  }

  private async load(): Promise<void> {
    for (const r of await this.db.all<Record<string, unknown>>('SELECT * FROM users')) this.cacheUser(rowToUser(r));
    for (const r of await this.db.all<Record<string, unknown>>('SELECT * FROM roles')) {
      this.roles.set(r.id as string, rowToRole(r));
    }
    for (const r of await this.db.all<{ user_id: string; role_id: string }>('SELECT * FROM user_roles')) {
      this.rolesOf(r.user_id).add(r.role_id);
    }
    const now = this.iso();
    for (const r of await this.db.all<Record<string, unknown>>('SELECT * FROM sessions WHERE revoked_at IS NULL AND expires_at > ?', [now])) {
      this.sessions.set(r.id as string, rowToSession(r));
    }
    for (const r of await this.db.all<Record<string, unknown>>('SELECT * FROM api_keys WHERE revoked_at IS NULL')) {
      this.apiKeys.set(r.hash as string, { ...rowToApiKey(r), hash: r.hash as string });
    }
    await this.grants.load();
  }

  private cacheUser(u: UserRow): void {
    const old = this.users.get(u.id);
    if (old) {
      this.byEmail.delete(old.email.toLowerCase());
      this.byUsername.delete(old.username.toLowerCase());
    }
    this.users.set(u.id, u);
    this.byEmail.set(u.email.toLowerCase(), u.id);
    this.byUsername.set(u.username.toLowerCase(), u.id);
  }

  private rolesOf(userId: string): Set<string> {
    let s = this.userRoles.get(userId);
    if (!s) this.userRoles.set(userId, (s = new Set()));
    return s;
  }

  // ---- users ---------------------------------------------------------------------------------------

  userCount(): number {
    return this.users.size;
  }

  getUser(userId: string): User | undefined {
    const u = this.users.get(userId);
    return u ? publicUser(u) : undefined;
  }

  requireUser(userId: string): User {
    const u = this.getUser(userId);
    if (!u) throw notFound(`user "${userId}" not found`);
    return u;
  }

  /** By email or username (login accepts either). */
  findUser(login: string): User | undefined {
    const key = login.toLowerCase();
    const userId = this.byEmail.get(key) ?? this.byUsername.get(key);
    return userId ? this.getUser(userId) : undefined;
  }

  listUsers(): User[] {
    return [...this.users.values()].map(publicUser).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  async createUser(input: { email: unknown; username: unknown; password: unknown; roleIds?: string[] }): Promise<User> {
    const email = checkEmail(input.email);
    const username = checkUsername(input.username);
    const weak = checkPasswordStrength(input.password);
    if (weak) throw badRequest(weak, 'weak_password');
    if (this.byEmail.has(email.toLowerCase())) throw badRequest('Email already exists', 'email_taken');
    if (this.byUsername.has(username.toLowerCase())) throw badRequest('Username already exists', 'username_taken');
    const roleIds = input.roleIds ?? [USER_ROLE];
    for (const r of roleIds) if (!this.roles.has(r)) throw badRequest(`unknown role "${r}"`);
    const t = this.iso();
    const row: UserRow = {
      id: id(), email, username, createdAt: t, updatedAt: t, disabled: false, totpEnabled: false,
      passwordHash: await hashPassword(input.password as string), totpSecret: null, totpLastStep: 0, recoveryCodes: [],
    };
    try {
      await this.db.batch([
        { sql: `INSERT INTO users (id, email, username, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`, params: [row.id, email, username, row.passwordHash, t, t] },
        ...roleIds.map((r) => ({ sql: 'INSERT INTO user_roles (user_id, role_id) VALUES (?, ?)', params: [row.id, r] })),
      ]);
    } catch (err) {
      // Two registrations racing past the cache check: the UNIQUE constraint decides.
      if (/UNIQUE/.test((err as Error).message)) throw badRequest(/email/.test((err as Error).message) ? 'Email already exists' : 'Username already exists', 'taken');
      throw err;
    }
    this.cacheUser(row);
    for (const r of roleIds) this.rolesOf(row.id).add(r);
    return publicUser(row);
  }

  /** The user whose password matches, or undefined (constant work either way). */
  async checkPassword(login: string, password: string): Promise<User | undefined> {
    const user = this.findUser(login);
    const row = user ? this.users.get(user.id) : undefined;
    const ok = await verifyPassword(password, row?.passwordHash ?? (await dummyHash()));
    return ok && row ? publicUser(row) : undefined;
  }

  async updateUser(userId: string, patch: { email?: unknown; username?: unknown; password?: unknown; disabled?: unknown }): Promise<User> {
    const row = this.users.get(userId);
    if (!row) throw notFound(`user "${userId}" not found`);
    const next: UserRow = { ...row };
    if (patch.email !== undefined) {
      next.email = checkEmail(patch.email);
      const other = this.byEmail.get(next.email.toLowerCase());
      if (other && other !== userId) throw badRequest('Email already exists', 'email_taken');
    }
    if (patch.username !== undefined) {
      next.username = checkUsername(patch.username);
      const other = this.byUsername.get(next.username.toLowerCase());
      if (other && other !== userId) throw badRequest('Username already exists', 'username_taken');
    }
    if (patch.password !== undefined) {
      const weak = checkPasswordStrength(patch.password);
      if (weak) throw badRequest(weak, 'weak_password');
      next.passwordHash = await hashPassword(patch.password as string);
    }
    if (patch.disabled !== undefined) {
      if (typeof patch.disabled !== 'boolean') throw badRequest('disabled must be a boolean');
      next.disabled = patch.disabled;
    }
    next.updatedAt = this.iso();
    await this.db.run('UPDATE users SET email = ?, username = ?, password_hash = ?, disabled = ?, updated_at = ? WHERE id = ?',
      [next.email, next.username, next.passwordHash, next.disabled ? 1 : 0, next.updatedAt, userId]);
    this.cacheUser(next);
    if (next.disabled && !row.disabled) {
      await this.revokeAllSessions(userId, 'user disabled');
      this.emit('userChanged', userId, 'disabled');
    }
    return publicUser(next);
  }

  async deleteUser(userId: string): Promise<void> {
    const row = this.users.get(userId);
    if (!row) throw notFound(`user "${userId}" not found`);
    if (this.isLastAdmin(userId)) throw conflict('cannot delete the last administrator', 'last_admin');
    await this.db.run('PRAGMA foreign_keys = ON');
    await this.db.batch([
      { sql: 'DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE user_id = ?)', params: [userId] },
      { sql: 'DELETE FROM sessions WHERE user_id = ?', params: [userId] },
      { sql: 'DELETE FROM api_keys WHERE user_id = ?', params: [userId] },
      { sql: 'DELETE FROM server_subusers WHERE user_id = ?', params: [userId] },
      { sql: 'DELETE FROM server_grants WHERE user_id = ?', params: [userId] },
      { sql: 'DELETE FROM user_roles WHERE user_id = ?', params: [userId] },
      { sql: 'DELETE FROM users WHERE id = ?', params: [userId] },
    ]);
    this.users.delete(userId);
    this.byEmail.delete(row.email.toLowerCase());
    this.byUsername.delete(row.username.toLowerCase());
    this.userRoles.delete(userId);
    for (const [sid, s] of this.sessions) if (s.userId === userId) this.sessions.delete(sid);
    for (const [h, k] of this.apiKeys) if (k.userId === userId) this.apiKeys.delete(h);
    this.grants.dropUser(userId);
    this.emit('userChanged', userId, 'deleted');
  }

  private isLastAdmin(userId: string): boolean {
    if (!this.rolesOf(userId).has(ADMIN_ROLE)) return false;
    for (const [u, roles] of this.userRoles) if (u !== userId && roles.has(ADMIN_ROLE) && this.users.has(u) && !this.users.get(u)!.disabled) return false;
    return true;
  }

  // ---- TOTP state (the protocol lives in totp.ts) -----------------------------------------------------

  totpState(userId: string): { secret: string | null; enabled: boolean; lastStep: number; recoveryCodes: number } {
    const u = this.users.get(userId);
    if (!u) throw notFound(`user "${userId}" not found`);
    return { secret: u.totpSecret, enabled: u.totpEnabled, lastStep: u.totpLastStep, recoveryCodes: u.recoveryCodes.length };
  }

  async setTotp(userId: string, state: { secret: string | null; enabled: boolean; recoveryCodes?: string[]; lastStep?: number }): Promise<void> {
    const u = this.users.get(userId);
    if (!u) throw notFound(`user "${userId}" not found`);
    const hashes = state.recoveryCodes ? state.recoveryCodes.map(sha256) : state.enabled ? u.recoveryCodes : [];
    const lastStep = state.lastStep ?? u.totpLastStep;
    await this.db.run('UPDATE users SET totp_secret = ?, totp_enabled = ?, recovery_codes = ?, totp_last_step = ?, updated_at = ? WHERE id = ?',
      [state.secret, state.enabled ? 1 : 0, JSON.stringify(hashes), lastStep, this.iso(), userId]);
    this.users.set(userId, { ...u, totpSecret: state.secret, totpEnabled: state.enabled, recoveryCodes: hashes, totpLastStep: lastStep });
  }

  /** Records that a TOTP time step was used; false when it (or a later one) already was (replay). */
  async useTotpStep(userId: string, step: number): Promise<boolean> {
    const u = this.users.get(userId);
    if (!u || step <= u.totpLastStep) return false;
    await this.db.run('UPDATE users SET totp_last_step = ? WHERE id = ?', [step, userId]);
    u.totpLastStep = step;
    return true;
  }

  /** Consumes a recovery code: true once per code. */
  async useRecoveryCode(userId: string, code: string): Promise<boolean> {
    const u = this.users.get(userId);
    if (!u) return false;
    const h = sha256(code.trim().toLowerCase());
    const i = u.recoveryCodes.findIndex((x) => safeEqualHex(x, h));
    if (i < 0) return false;
    const rest = u.recoveryCodes.filter((_, j) => j !== i);
    await this.db.run('UPDATE users SET recovery_codes = ? WHERE id = ?', [JSON.stringify(rest), userId]);
    u.recoveryCodes = rest;
    return true;
  }

  // ---- roles and permissions -----------------------------------------------------------------------

  listRoles(): Role[] {
    return [...this.roles.values()].sort((a, b) => Number(b.builtin) - Number(a.builtin) || a.name.localeCompare(b.name));
  }

  getRole(roleId: string): Role | undefined {
    return this.roles.get(roleId);
  }

  requireRole(roleId: string): Role {
    const r = this.roles.get(roleId);
    if (!r) throw notFound(`role "${roleId}" not found`);
    return r;
  }

  rolesOfUser(userId: string): Role[] {
    return [...this.rolesOf(userId)].map((r) => this.roles.get(r)).filter((r): r is Role => !!r);
  }

  /** The user's grants: the union of their roles' permissions (wildcards kept). */
  grantsOf(userId: string): string[] {
    const out = new Set<string>();
    for (const r of this.rolesOfUser(userId)) for (const p of r.permissions) out.add(p);
    return [...out];
  }

  async createRole(input: { name: unknown; description?: unknown; permissions: unknown }): Promise<Role> {
    const name = checkRoleName(input.name);
    const permissions = checkGrants(input.permissions);
    const description = checkDescription(input.description);
    if ([...this.roles.values()].some((r) => r.name.toLowerCase() === name.toLowerCase())) throw conflict(`a role named "${name}" already exists`);
    const t = this.iso();
    const role: Role = { id: id(), name, description, permissions, builtin: false, createdAt: t, updatedAt: t };
    await this.db.run('INSERT INTO roles (id, name, description, permissions, builtin, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)',
      [role.id, name, description, JSON.stringify(permissions), t, t]);
    this.roles.set(role.id, role);
    return role;
  }

  async updateRole(roleId: string, patch: { name?: unknown; description?: unknown; permissions?: unknown }): Promise<Role> {
    const role = this.requireRole(roleId);
    if (role.id === ADMIN_ROLE && patch.permissions !== undefined) throw badRequest('the admin role always has every permission');
    const next: Role = { ...role, updatedAt: this.iso() };
    if (patch.name !== undefined) {
      next.name = checkRoleName(patch.name);
      if ([...this.roles.values()].some((r) => r.id !== roleId && r.name.toLowerCase() === next.name.toLowerCase())) throw conflict(`a role named "${next.name}" already exists`);
    }
    if (patch.description !== undefined) next.description = checkDescription(patch.description);
    if (patch.permissions !== undefined) next.permissions = checkGrants(patch.permissions);
    await this.db.run('UPDATE roles SET name = ?, description = ?, permissions = ?, updated_at = ? WHERE id = ?',
      [next.name, next.description, JSON.stringify(next.permissions), next.updatedAt, roleId]);
    this.roles.set(roleId, next);
    for (const [u, roles] of this.userRoles) if (roles.has(roleId)) this.emit('userChanged', u, 'permissions');
    return next;
  }

  async deleteRole(roleId: string): Promise<void> {
    const role = this.requireRole(roleId);
    if (role.builtin) throw badRequest(`the built-in role "${role.name}" cannot be deleted`);
    const holders = [...this.userRoles].filter(([, r]) => r.has(roleId)).map(([u]) => u);
    await this.db.batch([
      { sql: 'DELETE FROM user_roles WHERE role_id = ?', params: [roleId] },
      { sql: 'DELETE FROM roles WHERE id = ?', params: [roleId] },
    ]);
    this.roles.delete(roleId);
    for (const u of holders) {
      this.rolesOf(u).delete(roleId);
      this.emit('userChanged', u, 'permissions');
    }
  }

  async setUserRoles(userId: string, roleIds: unknown): Promise<Role[]> {
    this.requireUser(userId);
    if (!Array.isArray(roleIds) || roleIds.some((r) => typeof r !== 'string')) throw badRequest('roleIds must be an array of role ids');
    for (const r of roleIds as string[]) if (!this.roles.has(r)) throw badRequest(`unknown role "${r}"`);
    const wanted = new Set(roleIds as string[]);
    if (this.rolesOf(userId).has(ADMIN_ROLE) && !wanted.has(ADMIN_ROLE) && this.isLastAdmin(userId)) throw conflict('cannot remove the admin role from the last administrator', 'last_admin');
    await this.db.batch([
      { sql: 'DELETE FROM user_roles WHERE user_id = ?', params: [userId] },
      ...[...wanted].map((r) => ({ sql: 'INSERT INTO user_roles (user_id, role_id) VALUES (?, ?)', params: [userId, r] })),
    ]);
    this.userRoles.set(userId, wanted);
    this.emit('userChanged', userId, 'permissions');
    return this.rolesOfUser(userId);
  }

  // ---- sessions and refresh tokens -------------------------------------------------------------------

  async createSession(userId: string, meta: { ip?: string; userAgent?: string } = {}): Promise<{ session: Session; refreshToken: string }> {
    this.requireUser(userId);
    const t = this.iso();
    const session: Session = { id: id(), userId, createdAt: t, lastUsedAt: t, expiresAt: new Date(this.now() + this.sessionTtlSeconds * 1000).toISOString(), ip: meta.ip, userAgent: meta.userAgent?.slice(0, 256) };
    const refreshToken = REFRESH_PREFIX + randomBytes(32).toString('base64url');
    await this.db.batch([
      { sql: 'INSERT INTO sessions (id, user_id, created_at, expires_at, last_used_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)', params: [session.id, userId, t, session.expiresAt, t, meta.ip ?? null, session.userAgent ?? null] },
      { sql: 'INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES (?, ?, ?)', params: [sha256(refreshToken), session.id, t] },
    ]);
    this.sessions.set(session.id, session);
    return { session, refreshToken };
  }

  /** True while the session is neither revoked nor expired and its user is enabled. */
  isSessionActive(sessionId: string): boolean {
    const s = this.sessions.get(sessionId);
    if (!s) return false;
    if (s.expiresAt <= this.iso()) {
      this.sessions.delete(sessionId);
      return false;
    }
    const u = this.users.get(s.userId);
    return !!u && !u.disabled;
  }

  getSession(sessionId: string): Session | undefined {
    return this.isSessionActive(sessionId) ? this.sessions.get(sessionId) : undefined;
  }

  listSessions(userId: string): Session[] {
    return [...this.sessions.values()].filter((s) => s.userId === userId && this.isSessionActive(s.id));
  }

  /**
   * Exchanges a refresh token for a new one in the same session. A token that was already exchanged
   * means it leaked (or a client raced itself): the whole family is revoked, as OAuth 2.1 advises.
   */
  async rotateRefreshToken(refreshToken: string): Promise<{ session: Session; refreshToken: string }> {
    if (typeof refreshToken !== 'string' || !refreshToken.startsWith(REFRESH_PREFIX)) throw new ApiError(401, 'Invalid refresh token', 'token_invalid');
    const hash = sha256(refreshToken);
    const t = this.iso();
    const next = REFRESH_PREFIX + randomBytes(32).toString('base64url');
    const outcome = await this.db.transaction(async (tx) => {
      const row = await tx.get<{ session_id: string; used_at: string | null }>('SELECT session_id, used_at FROM refresh_tokens WHERE hash = ?', [hash]);
      if (!row) return { error: 'unknown' as const };
      if (row.used_at) {
        await tx.run(`UPDATE sessions SET revoked_at = ?, revoked_reason = 'refresh token reused' WHERE id = ? AND revoked_at IS NULL`, [t, row.session_id]);
        return { error: 'reused' as const, sessionId: row.session_id };
      }
      const s = await tx.get<{ revoked_at: string | null; expires_at: string }>('SELECT revoked_at, expires_at FROM sessions WHERE id = ?', [row.session_id]);
      if (!s || s.revoked_at || s.expires_at <= t) return { error: 'revoked' as const };
      await tx.run('UPDATE refresh_tokens SET used_at = ? WHERE hash = ?', [t, hash]);
      await tx.run('INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES (?, ?, ?)', [sha256(next), row.session_id, t]);
      await tx.run('UPDATE sessions SET last_used_at = ? WHERE id = ?', [t, row.session_id]);
      return { sessionId: row.session_id };
    });
    if ('error' in outcome) {
      if (outcome.error === 'reused') {
        const s = this.sessions.get(outcome.sessionId!);
        this.sessions.delete(outcome.sessionId!);
        if (s) this.emit('userChanged', s.userId, 'sessions');
        throw new ApiError(401, 'Refresh token already used: the session has been revoked, log in again', 'token_reused');
      }
      throw new ApiError(401, outcome.error === 'unknown' ? 'Invalid refresh token' : 'Session expired or revoked, log in again', 'token_invalid');
    }
    const session = this.sessions.get(outcome.sessionId);
    if (!session || !this.isSessionActive(session.id)) throw new ApiError(401, 'Session expired or revoked, log in again', 'token_invalid');
    session.lastUsedAt = t;
    return { session, refreshToken: next };
  }

  async revokeSession(sessionId: string, reason: string): Promise<boolean> {
    const s = this.sessions.get(sessionId);
    const r = await this.db.run('UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL', [this.iso(), reason, sessionId]);
    this.sessions.delete(sessionId);
    if (s) this.emit('userChanged', s.userId, 'sessions');
    return r.changes > 0;
  }

  /** Ends every session of the user except `keep` (password change ends the others). */
  async revokeAllSessions(userId: string, reason: string, keep?: string): Promise<number> {
    const r = await this.db.run('UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at IS NULL AND id != ?', [this.iso(), reason, userId, keep ?? '']);
    for (const [sid, s] of this.sessions) if (s.userId === userId && sid !== keep) this.sessions.delete(sid);
    this.emit('userChanged', userId, 'sessions');
    return r.changes;
  }

  // ---- API keys --------------------------------------------------------------------------------------

  async createApiKey(userId: string, input: { name: unknown; permissions: unknown; expiresAt?: unknown }): Promise<{ key: string; apiKey: ApiKey }> {
    this.requireUser(userId);
    if (typeof input.name !== 'string' || input.name.trim() === '' || input.name.length > 100) throw badRequest('name must be a string of 1 to 100 characters');
    const permissions = checkGrants(input.permissions);
    // A key never holds more than its owner: its scopes are intersected with the user's grants at use,
    // so a role taken away later narrows the key too. Refusing at creation catches the mistake early.
    const grants = this.grantsOf(userId);
    const beyond = permissions.filter((p) => !p.includes('*') && !hasPermission(grants, p) && !isServerScopedName(p));
    if (beyond.length) throw badRequest(`you do not hold ${beyond.join(', ')}, so a key cannot either`);
    let expiresAt: string | undefined;
    if (input.expiresAt !== undefined && input.expiresAt !== null) {
      const d = typeof input.expiresAt === 'string' ? Date.parse(input.expiresAt) : NaN;
      if (Number.isNaN(d)) throw badRequest('expiresAt must be an RFC 3339 date-time');
      if (d <= this.now()) throw badRequest('expiresAt must be in the future');
      expiresAt = new Date(d).toISOString();
    }
    const key = API_KEY_PREFIX + randomBytes(30).toString('base64url');
    const t = this.iso();
    const apiKey: ApiKey = { id: id(), userId, name: input.name.trim(), prefix: key.slice(0, 10), permissions, createdAt: t, expiresAt };
    const hash = sha256(key);
    await this.db.run('INSERT INTO api_keys (id, user_id, name, prefix, hash, permissions, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [apiKey.id, userId, apiKey.name, apiKey.prefix, hash, JSON.stringify(permissions), t, expiresAt ?? null]);
    this.apiKeys.set(hash, { ...apiKey, hash });
    return { key, apiKey };
  }

  listApiKeys(userId: string): ApiKey[] {
    return [...this.apiKeys.values()].filter((k) => k.userId === userId).map(({ hash: _h, ...k }) => k);
  }

  async revokeApiKey(userId: string, keyId: string): Promise<void> {
    const entry = [...this.apiKeys.values()].find((k) => k.id === keyId && k.userId === userId);
    if (!entry) throw notFound(`API key "${keyId}" not found`);
    await this.db.run('UPDATE api_keys SET revoked_at = ? WHERE id = ?', [this.iso(), keyId]);
    this.apiKeys.delete(entry.hash);
    this.emit('userChanged', userId, 'sessions');
  }

  /** The key's record when the key is valid (not revoked, not expired, user enabled). */
  findApiKey(key: string): ApiKey | undefined {
    const entry = this.apiKeys.get(sha256(key));
    if (!entry) return undefined;
    if (entry.expiresAt && entry.expiresAt <= this.iso()) return undefined;
    const u = this.users.get(entry.userId);
    if (!u || u.disabled) return undefined;
    const last = this.lastKeyTouch.get(entry.id) ?? 0;
    // lastUsedAt at most once a minute: a busy automation must not turn every read into a write.
    if (this.now() - last > 60_000) {
      this.lastKeyTouch.set(entry.id, this.now());
      entry.lastUsedAt = this.iso();
      void this.db.run('UPDATE api_keys SET last_used_at = ? WHERE id = ?', [entry.lastUsedAt, entry.id]).catch(() => {});
    }
    const { hash: _h, ...k } = entry;
    return k;
  }

  // ---- per-server access (subusers) --------------------------------------------------------------------
  // Keyed by the server's uid (server-grants.ts). The (namespace, name) overloads resolve the server
  // as it exists now, for callers that hold only a name.

  /** The user's grant on this server (by uid; a re-created server of the same name has none). */
  serverGrant(userId: string, server: ServerRef): string[] | undefined;
  /** The grant recorded under this namespace/name, whichever server of that name it was given on. */
  serverGrant(userId: string, namespace: string, name: string): string[] | undefined;
  serverGrant(userId: string, server: ServerRef | string, name?: string): string[] | undefined {
    return typeof server === 'string' ? this.grants.getByName(userId, server, name!) : this.grants.get(userId, server);
  }

  listServerGrants(server: ServerRef): { userId: string; permissions: string[] }[] {
    return this.grants.list(server);
  }

  /** Servers the user was given access to. */
  serversGrantedTo(userId: string): ServerKey[] {
    return this.grants.grantedTo(userId);
  }

  async setServerGrant(server: ServerRef, userId: string, permissions: string[]): Promise<void>;
  async setServerGrant(namespace: string, name: string, userId: string, permissions: string[]): Promise<void>;
  async setServerGrant(a: ServerRef | string, b: string, c: string | string[], d?: string[]): Promise<void> {
    const [key, userId, permissions] = typeof a === 'string' ? [await this.keyByName(a, b), c as string, d!] : [this.requireKey(a), b, c as string[]];
    this.requireUser(userId);
    await this.grants.set(key, userId, permissions);
    this.emit('serverAccessChanged', key, userId);
  }

  async removeServerGrant(server: ServerRef, userId: string): Promise<boolean>;
  async removeServerGrant(namespace: string, name: string, userId: string): Promise<boolean>;
  async removeServerGrant(a: ServerRef | string, b: string, c?: string): Promise<boolean> {
    const [key, userId] = typeof a === 'string' ? [await this.keyByName(a, b), c!] : [this.requireKey(a), b];
    const removed = await this.grants.remove(key.uid, userId);
    this.emit('serverAccessChanged', key, userId);
    return removed;
  }

  // PerServerState (controller/lifecycle/server-reaper.ts): grants die with their server.
  knownServerUids(): string[] {
    return this.grants.uids();
  }

  async forgetServers(gone: readonly GoneServer[]): Promise<void> {
    for (const { key, userIds } of await this.grants.forget(gone)) for (const u of userIds) this.emit('serverAccessChanged', key, u);
  }

  private requireKey(server: ServerRef): ServerKey {
    const key = serverKeyOf(server);
    if (!key) throw new Error(`server ${server.metadata.name} has no uid yet: grants are keyed by uid`);
    return key;
  }

  private async keyByName(namespace: string, name: string): Promise<ServerKey> {
    if (!this.resolveServer) throw new Error('this AccountStore cannot resolve servers by name (open it with resolveServer)');
    const key = await this.resolveServer(namespace, name);
    if (!key) throw notFound(`server "${namespace}/${name}" not found`);
    return key;
  }
}

function isServerScopedName(p: string): boolean {
  // Owner rights are per server, not role grants, so a key may be scoped to them without the role.
  return /^(server|file|backup|task|alert)\./.test(p);
}

function safeEqualHex(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function checkEmail(v: unknown): string {
  if (typeof v !== 'string' || !EMAIL.test(v.trim())) throw badRequest('Invalid email format', 'invalid_email');
  return v.trim();
}

function checkUsername(v: unknown): string {
  if (typeof v !== 'string' || !USERNAME.test(v)) throw badRequest('username must be 2 to 32 characters: letters, digits, _ . - (starting with a letter or digit)', 'invalid_username');
  return v;
}

function checkRoleName(v: unknown): string {
  if (typeof v !== 'string' || v.trim() === '' || v.length > 64) throw badRequest('role name must be a string of 1 to 64 characters');
  return v.trim();
}

function checkDescription(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string' || v.length > 500) throw badRequest('description must be a string of at most 500 characters');
  return v;
}

export function checkGrants(v: unknown, allowed?: readonly string[]): string[] {
  if (!Array.isArray(v)) throw badRequest('permissions must be an array of permission names');
  for (const g of v) {
    const why = checkGrant(g, allowed);
    if (why) throw badRequest(why, 'invalid_permission');
  }
  return [...new Set(v as string[])];
}

function publicUser(u: UserRow): User {
  return { id: u.id, email: u.email, username: u.username, createdAt: u.createdAt, updatedAt: u.updatedAt, disabled: u.disabled, totpEnabled: u.totpEnabled };
}

function rowToUser(r: Record<string, unknown>): UserRow {
  return {
    id: r.id as string, email: r.email as string, username: r.username as string, createdAt: r.created_at as string, updatedAt: r.updated_at as string,
    disabled: r.disabled === 1, totpEnabled: r.totp_enabled === 1, passwordHash: r.password_hash as string,
    totpSecret: (r.totp_secret as string | null) ?? null, totpLastStep: Number(r.totp_last_step ?? 0), recoveryCodes: JSON.parse((r.recovery_codes as string) ?? '[]') as string[],
  };
}

function rowToRole(r: Record<string, unknown>): Role {
  return { id: r.id as string, name: r.name as string, description: r.description as string, permissions: JSON.parse(r.permissions as string) as string[], builtin: r.builtin === 1, createdAt: r.created_at as string, updatedAt: r.updated_at as string };
}

function rowToSession(r: Record<string, unknown>): Session {
  return { id: r.id as string, userId: r.user_id as string, createdAt: r.created_at as string, expiresAt: r.expires_at as string, lastUsedAt: r.last_used_at as string, ip: (r.ip as string) ?? undefined, userAgent: (r.user_agent as string) ?? undefined };
}

function rowToApiKey(r: Record<string, unknown>): ApiKey {
  return { id: r.id as string, userId: r.user_id as string, name: r.name as string, prefix: r.prefix as string, permissions: JSON.parse(r.permissions as string) as string[], createdAt: r.created_at as string, expiresAt: (r.expires_at as string) ?? undefined, lastUsedAt: (r.last_used_at as string) ?? undefined };
}
