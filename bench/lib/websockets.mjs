// What an idle relayed WebSocket costs jobgate (issue 17): a client process opens N WebSockets
// through one jobgate instance to an echo upstream, and jobgate's RSS grows by about N times
// the cost of one. jobgate holds two sockets per WebSocket (client and upstream), so N is bounded
// by its limit on open files.
import { once } from 'node:events';
import { fileLimits, openFds, peakRss, rss, sleep } from './proc.mjs';

/** Sends `order` to the client process and resolves with its reply; rejects if it exits first. */
function ask(processes, clients, order, timeoutMs) {
  return new Promise((resolve, reject) => {
    const onMessage = (message) => {
      if (message.type !== (order.type === 'open' ? 'opened' : order.type === 'close' ? 'closed' : order.type)) return;
      done();
      resolve(message);
    };
    const onExit = () => {
      done();
      reject(new Error(`${clients.benchName} exited (${clients.exitCode ?? clients.signalCode}):\n${clients.stderrTail.trim()}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${clients.benchName}: no answer to ${order.type} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      clients.off('message', onMessage);
      clients.off('exit', onExit);
    };
    processes.assertAlive(clients);
    clients.on('message', onMessage);
    clients.once('exit', onExit);
    clients.send(order);
  });
}

/**
 * Measures jobgate's RSS per idle WebSocket. `jobgate` is { port, child }, `clients` the running
 * bench/servers/ws-clients.mjs (IPC channel), already pointed at jobgate with a valid token.
 * `requested` connections, fewer when jobgate's open-file limit cannot hold two sockets each.
 */
export async function websocketMemory({ processes, jobgate, clients, requested, warmup, settleMs, idleMs, log }) {
  const pid = jobgate.child.pid;
  // A few connections first, closed again: the code paths, buffers and pools that every later
  // connection shares are then in the "before" figure.
  const warm = await ask(processes, clients, { type: 'open', count: warmup, concurrency: Math.min(warmup, 50) }, 60_000);
  if (warm.failed) throw new Error(`WebSocket warm-up: ${warm.failed} of ${warmup} failed: ${warm.error}`);
  await ask(processes, clients, { type: 'close' }, 60_000);
  await sleep(settleMs);
  processes.assertAlive(jobgate.child);
  const rssBefore = rss(pid);
  const fdsBefore = openFds(pid);
  const limits = fileLimits(pid);
  const limit = limits?.soft;
  const hardLimit = limits?.hard;

  // Two descriptors per WebSocket, above what jobgate holds already, with room to spare (Redis
  // reconnects, an admin request, a log file) and rounded down to a hundred.
  const fits = limit === undefined || limit === Infinity || fdsBefore === undefined ? requested : Math.floor((limit - fdsBefore - 100) / 2 / 100) * 100;
  const count = Math.max(1, Math.min(requested, fits));
  const note =
    count < requested
      ? `${count.toLocaleString('en-US')} WebSockets instead of ${requested.toLocaleString('en-US')}: jobgate may open ${limit.toLocaleString('en-US')} files here (ulimit -n; its hard limit ${hardLimit === Infinity ? 'is unlimited' : `is ${hardLimit.toLocaleString('en-US')}`}), holds ${fdsBefore} before and needs two per WebSocket (client and upstream)`
      : undefined;
  if (note) log(`  ${note}`);

  // Half of them first, idle, then the rest: the growth between the two is the cost of one more
  // WebSocket without what jobgate spends once (its young generation growing to its full size).
  const half = Math.floor(count / 2);
  const openMore = async (more) => {
    const started = Date.now();
    const opened = await ask(processes, clients, { type: 'open', count: more, concurrency: 100 }, 600_000);
    if (opened.failed) throw new Error(`WebSockets: ${opened.failed} of ${more} failed to open or echo: ${opened.error}`);
    return (Date.now() - started) / 1000;
  };
  let openSeconds = await openMore(half);
  await sleep(idleMs);
  const rssHalf = rss(pid);
  openSeconds += await openMore(count - half);
  log(
    `  ${count.toLocaleString('en-US')} WebSockets open through jobgate (each echoed one message; ${openSeconds.toFixed(1)} s to open), idle for ${idleMs / 1000} s`,
  );
  await sleep(idleMs);
  processes.assertAlive(jobgate.child);
  const rssAfter = rss(pid);
  const fdsAfter = openFds(pid);
  const status = await ask(processes, clients, { type: 'status' }, 60_000);
  if (status.open !== count || status.closedEarly) throw new Error(`WebSockets: ${status.closedEarly} closed while idle, ${status.open} of ${count} open`);
  const peak = peakRss(pid);
  await ask(processes, clients, { type: 'close' }, 120_000);

  const result = {
    requested,
    connections: count,
    note,
    warmup,
    idleSeconds: idleMs / 1000,
    openSeconds,
    rssBeforeBytes: rssBefore,
    rssAfterBytes: rssAfter,
    perConnectionBytes: rssBefore === undefined || rssAfter === undefined ? undefined : (rssAfter - rssBefore) / count,
    rssHalfBytes: rssHalf,
    secondHalfPerConnectionBytes: rssHalf === undefined || rssAfter === undefined ? undefined : (rssAfter - rssHalf) / (count - half),
    fdLimit: limit,
    fdsBefore,
    fdsAfter,
    peakRssBytes: peak,
  };
  log(
    `  jobgate RSS ${(rssBefore / 1e6).toFixed(1)} MB -> ${(rssAfter / 1e6).toFixed(1)} MB: ${(result.perConnectionBytes / 1e3).toFixed(2)} KB per WebSocket (the second half alone: ${(result.secondHalfPerConnectionBytes / 1e3).toFixed(2)} KB); open files ${fdsBefore} -> ${fdsAfter} (limit ${limit})`,
  );
  return result;
}

/** Stops the client process politely (it exits when its channel closes). */
export async function stopClients(processes, clients) {
  if (clients.exitCode === null && clients.signalCode === null) {
    const exited = once(clients, 'exit');
    clients.disconnect();
    await Promise.race([exited, sleep(5000)]);
  }
  await processes.stop(clients);
}
