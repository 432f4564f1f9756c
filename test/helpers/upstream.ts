import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/** What an upstream received. */
export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: string;
}

/** How a handler answers one request otherwise; the answer waits `delayMs`, then until `until` settles. */
export interface Answer {
  readonly status?: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly delayMs?: number;
  /** Holds the answer until it settles: a request in flight for as long as the test wants, whatever the machine's speed. */
  readonly until?: PromiseLike<unknown>;
}

/**
 * A real upstream HTTP + WebSocket server on a free loopback port. HTTP requests are
 * answered 200 with a JSON echo ({name, method, url, headers, body}); WebSockets echo
 * every message. Everything received is recorded.
 */
export class Upstream {
  readonly received: Received[] = [];
  readonly sockets = new Set<WebSocket>();
  private readonly wss: WebSocketServer;

  private constructor(
    readonly name: string,
    private readonly server: Server,
  ) {
    this.wss = new WebSocketServer({ server });
    this.wss.on('connection', (socket, req) => {
      this.received.push({ method: 'WS', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: '' });
      this.sockets.add(socket);
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(name = 'upstream', handler?: (req: Received) => Answer | undefined): Promise<Upstream> {
    let upstream: Upstream | undefined = undefined;
    const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      let body = '';
      for await (const chunk of req) body += chunk;
      const received: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body };
      upstream!.received.push(received);
      const custom = handler?.(received);
      if (custom?.delayMs) await new Promise((resolve) => setTimeout(resolve, custom.delayMs));
      if (custom?.until) await custom.until;
      if (res.destroyed) return;
      res.writeHead(custom?.status ?? 200, { 'content-type': 'application/json', ...(custom?.headers ?? {}) });
      res.end(custom?.body ?? JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, body }));
    };
    const server = createServer((req, res) => void answer(req, res));
    server.keepAliveTimeout = 1000;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    upstream = new Upstream(name, server);
    return upstream;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The last request received. */
  get last(): Received {
    const last = this.received[this.received.length - 1];
    if (!last) throw new Error(`${this.name} received nothing`);
    return last;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
