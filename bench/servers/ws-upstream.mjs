// The WebSocket upstream of the per-connection memory measurement: an echo server on the `ws`
// package (plain HTTP requests get 426). Usage: node bench/servers/ws-upstream.mjs <port>
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
// No per-message compression, no client tracking: each connection costs this process little.
const server = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, clientTracking: false });
server.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on('error', () => socket.terminate());
});
process.on('SIGTERM', () => process.exit(0));
