// Catalyst's database shapes. A server database as the document shows it (password included: the
// server's users need it to configure the game); a host as Gantry's admin routes answer it (the
// admin password is write-only and never appears).
import type { DatabaseHost, ServerDatabase } from '../../controller/databases/service.ts';

export function toCatalystDatabase(d: ServerDatabase): Record<string, unknown> {
  return { id: d.id, name: d.name, username: d.username, password: d.password, host: d.host, port: d.port, hostId: d.hostId, hostName: d.hostName, createdAt: d.createdAt, remote: d.remote };
}

export function toCatalystDatabaseHost(h: DatabaseHost): Record<string, unknown> {
  return { id: h.id, name: h.name, host: h.host, port: h.port, username: h.username, maxDatabases: h.maxDatabases, databaseCount: h.databaseCount, createdAt: h.createdAt, updatedAt: h.updatedAt };
}
