import { connect } from 'node:net';
import { request } from '../helpers/http.js';

/** An answer read off a raw socket: status line, headers (repeated ones as lists), body. */
export interface RawReply {
  readonly status: number;
  readonly headers: Record<string, string[]>;
  readonly body: string;
  /** The first value of header `name`. */
  header(name: string): string | undefined;
}

/**
 * Sends `head` (request line and headers, without the blank line) as written, byte for byte, to
 * 127.0.0.1:`port` with `Connection: close`, and reads the answer until the server closes.
 */
export function rawRequest(port: number, head: string, body = ''): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(20_000, () => socket.destroy(new Error('no answer within 20 s')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(parseReply(Buffer.concat(chunks).toString('latin1'))));
    socket.write(`${head}\r\nConnection: close\r\n\r\n${body}`, 'latin1');
  });
}

function parseReply(text: string): RawReply {
  const end = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = (end === -1 ? text : text.slice(0, end)).split('\r\n');
  const headers: Record<string, string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) (headers[line.slice(0, colon).toLowerCase()] ??= []).push(line.slice(colon + 1).trim());
  }
  return {
    status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0),
    headers,
    body: end === -1 ? '' : text.slice(end + 4),
    header: (name: string) => headers[name.toLowerCase()]?.[0],
  };
}

/**
 * Logs in through the real login form on `host` (as a browser on the job's page would) and
 * returns the session cookie as a Cookie header pair (`jobgate=...`).
 */
export async function loginCookie(proxyUrl: string, host: string, token: string): Promise<string> {
  const reply = await request(proxyUrl, {
    method: 'POST',
    host,
    path: '/__jobgate/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: `http://${host}` },
    body: new URLSearchParams({ token, next: '/' }).toString(),
  });
  const setCookie = reply.headers['set-cookie']?.[0];
  if (reply.status !== 303 || setCookie === undefined) throw new Error(`login on ${host} answered ${reply.status}: ${reply.body}`);
  return setCookie.split(';')[0]!;
}
