// The clients of the per-connection memory measurement: opens WebSockets through jobgate on
// orders from bench/run.mjs (over the IPC channel), echoes one message on each to prove the relay
// works, then holds them idle. Its own process, so that jobgate's figures count jobgate alone.
// Usage (spawned with an IPC channel): node bench/servers/ws-clients.mjs <port> <host> <token>
// Orders: { type: 'open', count, concurrency } -> { type: 'opened', open, failed, error }
//         { type: 'status' } -> { type: 'status', open, closedEarly }
//         { type: 'close' } -> { type: 'closed' }, then it exits.
import WebSocket from 'ws';

const [port, host, token] = process.argv.slice(2);
const url = `ws://127.0.0.1:${port}/`;
const headers = { Host: host, Authorization: `Bearer ${token}` };
const open = new Set();
let closedEarly = 0;
let closing = false;

/** One WebSocket through jobgate, resolved once a message came back from the echo upstream. */
function connect() {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: 30_000 });
    const fail = (error) => {
      socket.terminate();
      reject(error);
    };
    socket.once('error', fail);
    socket.once('unexpected-response', (_req, res) => fail(new Error(`handshake answered ${res.statusCode}`)));
    socket.once('open', () => socket.send('hello'));
    socket.once('message', (data) => {
      if (String(data) !== 'hello') return fail(new Error(`echo answered ${String(data).slice(0, 40)}`));
      socket.off('error', fail);
      socket.on('error', () => {});
      socket.once('close', () => {
        open.delete(socket);
        if (!closing) closedEarly++;
      });
      open.add(socket);
      resolve();
    });
  });
}

async function openMany(count, concurrency) {
  let started = 0;
  let failed = 0;
  let firstError;
  const worker = async () => {
    while (started < count) {
      started++;
      await connect().catch((error) => {
        failed++;
        firstError ??= error.message;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { type: 'opened', open: open.size, failed, error: firstError };
}

async function closeAll() {
  closing = true;
  const closed = [...open].map(
    (socket) =>
      new Promise((resolve) => {
        socket.once('close', resolve);
        socket.terminate();
      }),
  );
  await Promise.all(closed);
  return { type: 'closed' };
}

process.on('message', (order) => {
  const reply = (message) => process.send(message);
  if (order.type === 'open') void openMany(order.count, order.concurrency ?? 100).then(reply);
  else if (order.type === 'status') reply({ type: 'status', open: open.size, closedEarly });
  else if (order.type === 'close') void closeAll().then(reply);
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
