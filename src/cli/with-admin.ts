/** Picks the admin commands' registry, in one place: jobgate's control API or Redis (src/cli/admin.ts). */
import type { Command } from 'commander';
import type { Admin } from './admin.js';
import type { CliIo, GlobalOptions } from './context.js';
import { adminTarget } from './server.js';

/**
 * Runs `work` with the registry that the command's options name: jobgate's control API with
 * `--server` (or JOBGATE_SERVER) and JOBGATE_TOKEN (or the stored token for that server); else Redis
 * when a Redis is named explicitly; else the control API of the login `jobgate login` stored; else
 * Redis (settings from the flags, the environment and the config file). The Redis connection, if any, is closed afterwards.
 */
export async function withAdmin<T>(command: Command, io: CliIo, work: (admin: Admin) => Promise<T>): Promise<T> {
  const options = command.optsWithGlobals<GlobalOptions>();
  const target = adminTarget(options, io);
  if (target) {
    const { ControlClient } = await import('./control-client.js');
    return work(new ControlClient(target));
  }
  const [{ withStores, settingsFor }, { RedisAdmin }] = await Promise.all([import('./stores.js'), import('./redis-admin.js')]);
  return withStores(settingsFor(command, io.env), (stores) => work(new RedisAdmin(stores)));
}
