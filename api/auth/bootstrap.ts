// Unattended installs: GANTRY_ADMIN_PASSWORD creates the first administrator at start when no user
// exists yet (GANTRY_ADMIN_EMAIL, GANTRY_ADMIN_USERNAME override the defaults). With users present it
// does nothing, so leaving the variable set never resets a changed password.
import type { Logger } from '../../lib/log.ts';
import { ADMIN_ROLE, type AccountStore } from './accounts.ts';

export const DEFAULT_ADMIN_EMAIL = 'admin@gantry.local';
export const DEFAULT_ADMIN_USERNAME = 'admin';

export async function bootstrapAdmin(accounts: AccountStore, env: NodeJS.ProcessEnv, log: Logger): Promise<void> {
  if (accounts.userCount() > 0) return;
  const password = env.GANTRY_ADMIN_PASSWORD;
  if (!password) {
    log.warn('no user exists yet: finish setup with POST /api/auth/setup {email, username, password} (the first user is an administrator), or start with GANTRY_ADMIN_PASSWORD set');
    return;
  }
  const user = await accounts.createUser({
    email: env.GANTRY_ADMIN_EMAIL ?? DEFAULT_ADMIN_EMAIL,
    username: env.GANTRY_ADMIN_USERNAME ?? DEFAULT_ADMIN_USERNAME,
    password,
    roleIds: [ADMIN_ROLE],
  });
  log.info('created the first administrator from GANTRY_ADMIN_PASSWORD', { userId: user.id, email: user.email, username: user.username });
}
