// The floor cost of proxying in Node: http-proxy-3 with a keep-alive agent, no checks at all.
// Usage: node bench/servers/bare-proxy.mjs <port> <target-url>
import { Agent, createServer } from 'node:http';
import { createProxyServer } from 'http-proxy-3';

const port = Number(process.argv[2]);
const target = process.argv[3];
const agent = new Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });
const proxy = createProxyServer({ target, agent, xfwd: false });
proxy.on('error', (_error, _req, res) => {
  if (typeof res.writeHead === 'function' && !res.headersSent) res.writeHead(502);
  res.end();
});
createServer((req, res) => proxy.web(req, res)).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
