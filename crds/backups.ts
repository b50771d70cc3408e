// Which server a Backup was taken of. spec.serverRef is a name, and a server deleted and created again
// under that name is another server (another uid): its old backups must not be listed, downloaded or
// restored as the new one's. The uid is recorded in the annotation gantry.dev/server-uid when the
// Backup is created (Catalyst's routes, schedule steps), and the archive path always holds it
// (DATA/backups/<serverUid>/<backupUid>.tar.gz).
import type { Backup } from './types.ts';

export const SERVER_UID_ANNOTATION = 'gantry.dev/server-uid';

/** The server uid in the archive path of a completed Backup. */
export function archiveServerUid(b: Pick<Backup, 'status'>): string | undefined {
  return /\/([^/]+)\/[^/]+\.tar\.gz$/.exec(b.status?.path ?? '')?.[1];
}

/** The uid of the server the Backup is of, when recorded (annotation, else archive path). */
export function backupServerUid(b: Pick<Backup, 'metadata' | 'status'>): string | undefined {
  return b.metadata.annotations?.[SERVER_UID_ANNOTATION] || archiveServerUid(b);
}

/** The Backup names this server and, where it records a uid, this very server (not an earlier one of its name). */
export function isBackupOf(b: Backup, server: { metadata: { name: string; uid?: string } }): boolean {
  if (b.spec?.serverRef !== server.metadata.name) return false;
  const uid = backupServerUid(b);
  return !uid || !server.metadata.uid || uid === server.metadata.uid;
}
