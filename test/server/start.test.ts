import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import t from 'tap';
import { loadSettings } from '../../src/config/load.js';
import { resolveSettings } from '../../src/config/resolve.js';
import { PortInUseError } from '../../src/errors.js';
import { connectRedis, createRedis } from '../../src/redis/index.js';
import { startJobgate } from '../../src/server.js';
import { JOB_DOMAIN, LogCapture, waitFor } from '../helpers/jobgate.js';
import { freePort, RedisServer } from '../helpers/redis.js';

const listening = (server: NetServer, port: number) =>
  new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });

t.test('a start that cannot listen closes what it had opened, as close() does', async (t) => {
  const redis = await RedisServer.start();
  const admin = createRedis({ url: redis.url, commandTimeoutMs: 2000, reconnect: false });
  await connectRedis(admin, 2000);
  const busy = createNetServer();
  await listening(busy, 0);
  const [proxyPort, authzPort] = [await freePort(), await freePort()];
  t.teardown(async () => {
    busy.close();
    admin.disconnect();
    await redis.stop();
  });
  const clients = async () =>
    String(await admin.call('CLIENT', 'LIST'))
      .trim()
      .split('\n').length;
  const before = await clients();
  const settings = loadSettings({
    env: {
      JOBGATE_REDIS_URL: redis.url,
      JOBGATE_JOB_DOMAIN: JOB_DOMAIN,
      JOBGATE_LISTEN: `127.0.0.1:${proxyPort}`,
      JOBGATE_AUTHZ_LISTEN: `127.0.0.1:${authzPort}`,
      // Taken: the proxy listener opens first, then this one fails.
      JOBGATE_ADMIN_LISTEN: `127.0.0.1:${(busy.address() as { port: number }).port}`,
    },
  });
  const log = new LogCapture();
  await t.rejects(startJobgate(await resolveSettings(settings), { logDestination: log }), {
    constructor: PortInUseError,
    message: `JOBGATE_ADMIN_LISTEN 127.0.0.1:${(busy.address() as { port: number }).port} is in use; stop what listens there or set JOBGATE_ADMIN_LISTEN to another host:port`,
  });

  const again = createNetServer();
  await listening(again, proxyPort);
  again.close();
  t.pass('the proxy port it had opened is free again');
  await waitFor(async () => (await clients()) === before);
  t.equal(await clients(), before, 'its Redis connections are closed');
  t.notOk(
    log.lines.some((line) => line.event === 'started'),
    'it never said it started',
  );
  t.notOk(
    log.lines.some((line) => line.event === 'redis_error' || String(line.event).startsWith('ephemeral_')),
    'nor anything but why it stopped: no error from closing its own Redis connections, no warning about keys',
  );
});
