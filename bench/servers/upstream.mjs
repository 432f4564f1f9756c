// The upstream of every case: a trivial HTTP server answering 200 "ok\n".
// Usage: node bench/servers/upstream.mjs <port>
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
const body = Buffer.from('ok\n');
const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
// No idle timeout: the proxies' keep-alive pools must not race a closing socket between bursts.
server.keepAliveTimeout = 0;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
