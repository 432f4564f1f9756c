/**
 * Refusing a request whose body jobgate will not read (too large, wrong type) without losing
 * the answer. Closing a socket while the client is still sending makes the kernel answer the
 * unread bytes with a reset, and many clients (node:http among them) write their whole body
 * before they read: they see EPIPE or ECONNRESET instead of the 413. So jobgate answers, then
 * reads and discards the rest of the body for a bounded number of bytes and time, then closes
 * (a lingering close, as nginx does).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Answer } from './answers.js';

/** At most this much more of a refused body is read and thrown away before the connection is closed. */
export const LINGER_MAX_BYTES = 8 * 1024 * 1024;
/** For at most this long. */
export const LINGER_MAX_MS = 10_000;

/**
 * The request body if it is at most `maxBytes`, else undefined, leaving the rest unread. Unlike
 * a `for await` that returns early, this does not destroy the request (which would reset the
 * connection before the answer is sent).
 */
export async function readBodyUpTo(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Sends `reply` and closes the connection. When the request body is not all read, the answer is
 * sent at once and the connection closed only once the body ended, or after `LINGER_MAX_BYTES`
 * more bytes or `LINGER_MAX_MS`, whichever comes first.
 */
export function answerAndClose(req: IncomingMessage, res: ServerResponse, reply: Answer, limits = { maxBytes: LINGER_MAX_BYTES, maxMs: LINGER_MAX_MS }): void {
  res.shouldKeepAlive = false;
  res.writeHead(reply.status, reply.headers);
  if (req.complete) return void res.end(req.method === 'HEAD' ? undefined : reply.body);
  // The body is complete once written (Content-Length); ending the response closes the socket.
  if (req.method !== 'HEAD') res.write(reply.body);
  let discarded = 0;
  const finish = () => {
    clearTimeout(timer);
    req.off('data', discard);
    req.off('end', finish);
    req.off('error', finish);
    req.off('close', finish);
    if (!res.writableEnded) res.end();
    if (!req.complete) {
      // Beyond the bounds: stop reading (the client may now see a reset).
      req.pause();
      if (res.writableFinished) req.socket.destroy();
      else res.once('finish', () => req.socket.destroy());
    }
  };
  const discard = (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > limits.maxBytes) finish();
  };
  const timer = setTimeout(finish, limits.maxMs).unref();
  req.on('data', discard);
  req.once('end', finish);
  req.once('error', finish);
  req.once('close', finish);
  req.resume();
}
