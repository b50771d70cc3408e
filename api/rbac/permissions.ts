// The permission catalogue (Catalyst's dot-notation names) and wildcard matching.
//
// A grant is a permission name, `*` (everything) or a prefix wildcard such as `server.*`, which covers
// `server.start` and `server.logs.read` but not `serverx.start`. Grants come from roles (users), are
// narrowed by an API key's scopes, and per server from ownership and subuser grants.

export interface PermissionInfo {
  name: string;
  description: string;
  /**
   * True for permissions that make sense on one server: an owner holds them on their own servers and a
   * subuser can be granted them per server. The others (admin, nodes, templates, users) are global only.
   */
  serverScoped: boolean;
  /** Owners hold this on their own servers without a role granting it. */
  ownerDefault: boolean;
}

const p = (name: string, description: string, serverScoped = false, ownerDefault = serverScoped): PermissionInfo => ({ name, description, serverScoped, ownerDefault });

export const PERMISSIONS: readonly PermissionInfo[] = [
  p('server.create', 'Create servers (the creator becomes the owner)'),
  p('server.read', 'See a server, its status and allocations', true),
  // Owners may edit names, descriptions and editable variables; resource limits need the global grant,
  // or a customer could raise their own memory (checked in the route).
  p('server.update', 'Change a server\'s settings, allocations and restart policy', true),
  p('server.delete', 'Delete a stopped server', true, false),
  p('server.start', 'Start a server', true),
  p('server.stop', 'Stop a server', true),
  p('server.restart', 'Restart a server', true),
  p('server.kill', 'Kill a server (SIGKILL)', true),
  p('server.install', 'Reinstall a server', true),
  p('server.console', 'Send console commands and input', true),
  p('server.logs.read', 'Read console history', true),
  p('server.suspend', 'Suspend and unsuspend servers', false),
  p('server.transfer', 'Move a server to another node', false),
  p('server.subusers', 'Grant other users access to a server', true),
  p('server.activity', 'See a server\'s activity (its audit entries)', true),
  p('file.read', 'List, read and download files', true),
  p('file.write', 'Upload, create, edit, move and extract files', true),
  p('file.delete', 'Delete files', true),
  p('backup.read', 'List and download backups', true),
  p('backup.create', 'Create backups', true),
  p('backup.restore', 'Restore backups', true),
  p('backup.delete', 'Delete backups', true),
  p('database.read', 'See a server\'s databases and their credentials', true),
  p('database.create', 'Create databases for a server', true),
  p('database.rotate', 'Rotate a server database\'s password', true),
  p('database.delete', 'Delete a server\'s databases', true),
  p('database.hosts', 'Manage the database hosts (admin credentials)'),
  p('task.read', 'List scheduled tasks', true),
  p('task.create', 'Create scheduled tasks', true),
  p('task.update', 'Change scheduled tasks', true),
  p('task.delete', 'Delete scheduled tasks', true),
  p('task.execute', 'Run a scheduled task now', true),
  p('alert.read', 'See alerts', true),
  p('alert.resolve', 'Resolve alerts', true),
  p('alert.rules', 'Manage alert rules'),
  p('node.read', 'See nodes'),
  p('node.create', 'Create nodes'),
  p('node.update', 'Change nodes'),
  p('node.delete', 'Delete nodes'),
  p('node.deploy', 'Issue deployment tokens for nodes'),
  p('template.read', 'See templates'),
  p('template.create', 'Create templates'),
  p('template.update', 'Change templates'),
  p('template.delete', 'Delete templates'),
  p('user.read', 'See users'),
  p('user.create', 'Create users'),
  p('user.update', 'Change users and their roles'),
  p('user.delete', 'Delete users'),
  p('role.read', 'See roles'),
  p('role.write', 'Create, change and delete roles'),
  p('resource.read', 'Read resources through the Kubernetes-style API (/apis) and events'),
  p('resource.write', 'Create, change and delete resources through the Kubernetes-style API (/apis)'),
  p('admin.read', 'Read admin statistics, health, every server and the audit log'),
  p('rate-limit.bypass', 'Not subject to the per-user rate limit'),
];

const BY_NAME = new Map(PERMISSIONS.map((x) => [x.name, x]));

export function permissionInfo(name: string): PermissionInfo | undefined {
  return BY_NAME.get(name);
}

/** Permissions an owner holds on their own server. */
export const OWNER_PERMISSIONS: readonly string[] = PERMISSIONS.filter((x) => x.ownerDefault).map((x) => x.name);
/** Permissions a subuser may be granted on one server. */
export const SERVER_PERMISSIONS: readonly string[] = PERMISSIONS.filter((x) => x.serverScoped).map((x) => x.name);

const GRANT = /^(\*|[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*(\.\*)?)$/;

/** Null when valid, else why not. Unknown names are refused so a typo does not grant nothing silently. */
export function checkGrant(grant: unknown, allowed: readonly string[] = PERMISSIONS.map((x) => x.name)): string | null {
  if (typeof grant !== 'string' || !GRANT.test(grant)) return `"${String(grant)}" is not a permission (dot notation, e.g. server.start, server.* or *)`;
  if (grant === '*') return allowed.length === PERMISSIONS.length ? null : '"*" cannot be granted here';
  if (grant.endsWith('.*')) {
    const prefix = grant.slice(0, -1);
    return allowed.some((n) => n.startsWith(prefix)) ? null : `"${grant}" matches no permission that can be granted here`;
  }
  return allowed.includes(grant) ? null : `unknown permission "${grant}"`;
}

export function grantCovers(grant: string, permission: string): boolean {
  if (grant === '*' || grant === permission) return true;
  return grant.endsWith('.*') && permission.startsWith(grant.slice(0, -1));
}

export function hasPermission(grants: readonly string[], permission: string): boolean {
  for (const g of grants) if (grantCovers(g, permission)) return true;
  return false;
}

/** The catalogue's names a set of grants covers (for token payloads and `me`). */
export function expandGrants(grants: readonly string[]): string[] {
  return PERMISSIONS.map((x) => x.name).filter((n) => hasPermission(grants, n));
}
