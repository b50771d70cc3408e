// How a long-running command ends: on SIGINT or SIGTERM it stops what it runs, once, and resolves
// with the exit code (0 after a clean stop, 1 when stopping failed).
import type { Logger } from '../../lib/log.ts';

export function untilSignal(log: Logger, stop: () => Promise<void>): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info('shutting down', { signal });
      try {
        await stop();
        log.info('stopped cleanly');
        resolve(0);
      } catch (err) {
        log.error('shutdown failed', { err });
        resolve(1);
      }
    };
    process.once('SIGINT', () => void shutdown('SIGINT'));
    process.once('SIGTERM', () => void shutdown('SIGTERM'));
  });
}
