import { Command } from 'commander';
import type { GlobalOptions } from './context.js';
import type { CliIo } from './context.js';

interface ServeOptions extends GlobalOptions {
  workers?: string;
  listen?: string;
  adminListen?: string;
  jobDomain?: string;
}

/** `jobgate serve`: the reverse proxy. Runs until SIGTERM or SIGINT. */
export function serveCommand(io: CliIo): Command {
  return new Command('serve')
    .description('run the authenticating reverse proxy (settings: config/jobgate.yaml, JOBGATE_* environment, flags)')
    .option('--listen <host:port>', 'proxy listener (env JOBGATE_LISTEN; default 0.0.0.0:8080)')
    .option('--admin-listen <host:port>', 'admin listener with /healthz and /readyz (env JOBGATE_ADMIN_LISTEN; default 127.0.0.1:9090)')
    .option('--job-domain <domain>', 'job URLs are <job-id>.<domain> (env JOBGATE_JOB_DOMAIN; required in gateway mode)')
    .option('--workers <n|auto>', 'run n worker processes sharing the port (auto: one per CPU); the primary serves the admin listener')
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<ServeOptions>();
      // The proxy's modules (undici, pino, prom-client, jose, the settings' schema) load here, not
      // with the command's definition: `jobgate --help` and the admin commands start without them.
      const [{ loadSettings }, { resolveSettings }, { startJobgate }] = await Promise.all([
        import('../config/load.js'),
        import('../config/resolve.js'),
        import('../server.js'),
      ]);
      const settings = loadSettings({
        file: options.config,
        env: io.env,
        flags: {
          redisUrl: options.redisUrl,
          keyPrefix: options.keyPrefix,
          listen: options.listen,
          adminListen: options.adminListen,
          jobDomain: options.jobDomain,
        },
      });
      // Workers are started with the primary's arguments, --workers included: a single process
      // never loads node:cluster (nor the child_process module it brings).
      if (options.workers !== undefined) {
        const { runPrimary, runWorker, workerCount, isWorker } = await import('../cluster/workers.js');
        if (isWorker()) return runWorker(settings);
        const count = workerCount(options.workers);
        // Bad settings are refused once, here, with the message a single process prints: not in every worker.
        return runPrimary(await resolveSettings(settings), count);
      }
      const running = await startJobgate(await resolveSettings(settings));
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals) => {
          running.logger.info({ event: 'signal', signal }, 'shutting down');
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          void running.close(settings.drainTimeoutMs).then(resolve);
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
    });
}
