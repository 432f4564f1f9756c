// The floor cost of forwarding with undici, as jobgate does: a node:http server and one keep-alive
// undici Pool to the target, the request's headers and body passed on, no checks at all.
// Usage: node bench/servers/undici-proxy.mjs <port> <target-url>
import { createServer } from 'node:http';
import { Pool } from 'undici';

const port = Number(process.argv[2]);
const pool = new Pool(process.argv[3]);
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
// rawHeaders is [name, value, name, value, ...]: a pair goes when its name is hop-by-hop.
const endToEnd = (raw) => raw.filter((_, i) => !HOP.has(raw[i - (i % 2)].toLowerCase()));
createServer((req, res) => {
  const body = req.method === 'GET' || req.method === 'HEAD' ? null : req;
  pool.stream(
    { path: req.url, method: req.method, headers: endToEnd(req.rawHeaders), body, opaque: res },
    ({ statusCode, headers, opaque }) => {
      for (const name of HOP) delete headers[name];
      return opaque.writeHead(statusCode, headers);
    },
    (error) => {
      if (error && !res.headersSent) res.writeHead(502).end();
      else if (error) res.destroy();
    },
  );
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
