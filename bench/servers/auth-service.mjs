// The auth service behind nginx's auth_request: what people hand-build in front of jobs.
// Per request: read the bearer token, one HGETALL of its record in Redis, compare the
// SHA-256 of the value's body with secretHash, answer 200 or 401. No cache, no selector.
// Usage: node bench/servers/auth-service.mjs <port> <redis-url> <key-prefix>
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { Redis } from 'ioredis';

const port = Number(process.argv[2]);
const redis = new Redis(process.argv[3]);
const prefix = process.argv[4];

function deny(res) {
  res.writeHead(401, { 'content-length': 0 });
  res.end();
}

createServer((req, res) => {
  const header = req.headers.authorization ?? '';
  const value = header.startsWith('Bearer ') ? header.slice(7) : '';
  const cut = value.lastIndexOf('_');
  if (!value.startsWith('jgt_') || cut < 41) return deny(res);
  const id = value.slice(4, 40);
  redis.hgetall(`${prefix}token:${id}`).then(
    (record) => {
      const digest = createHash('sha256').update(value.slice(0, cut)).digest();
      const stored = Buffer.from(record.secretHash ?? '', 'hex');
      if (stored.length !== digest.length || !timingSafeEqual(stored, digest)) return deny(res);
      res.writeHead(200, { 'content-length': 0 });
      res.end();
    },
    () => {
      res.writeHead(503, { 'content-length': 0 });
      res.end();
    },
  );
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
  redis.disconnect();
  process.exit(0);
});
