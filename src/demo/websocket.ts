import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2). */
export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/** A final, unmasked server frame; payloads here are always under 126 bytes. */
function frame(opcode: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]);
}

function closePayload(code: number, reason: string): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}

/**
 * Answers a WebSocket upgrade with the RFC 6455 handshake, then echoes text frames: just
 * enough for the demo's page. Short, unfragmented messages only (payload < 126 bytes);
 * anything else is closed with a status code that says why. Pings get pongs; a close
 * frame is answered with the same status code, then the connection ends.
 */
export function acceptEchoSocket(req: IncomingMessage, socket: Duplex): void {
  const key = req.headers['sec-websocket-key'];
  socket.on('error', () => socket.destroy());
  if (req.headers.upgrade?.toLowerCase() !== 'websocket' || typeof key !== 'string' || !/^[A-Za-z0-9+/]{22}==$/.test(key)) {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`);
  let pending = Buffer.alloc(0);
  let closed = false;
  const close = (payload: Buffer) => {
    closed = true;
    socket.end(frame(0x8, payload));
  };
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (!closed && pending.length >= 2) {
      const fin = (pending[0]! & 0x80) !== 0;
      const opcode = pending[0]! & 0x0f;
      const length = pending[1]! & 0x7f;
      if ((pending[1]! & 0x80) === 0) return close(closePayload(1002, 'client frames must be masked'));
      if (length >= 126) return close(closePayload(1009, 'this demo echoes messages under 126 bytes'));
      if (pending.length < 6 + length) return;
      const payload = Buffer.alloc(length);
      for (let i = 0; i < length; i++) payload[i] = pending[6 + i]! ^ pending[2 + (i % 4)]!;
      pending = pending.subarray(6 + length);
      if (opcode === 0x8) return close(payload.subarray(0, 2));
      if (!fin || opcode === 0x0) return close(closePayload(1003, 'this demo does not reassemble fragments'));
      if (opcode === 0x1) socket.write(frame(0x1, payload));
      else if (opcode === 0x9) socket.write(frame(0xa, payload));
      else if (opcode !== 0xa) return close(closePayload(1003, 'this demo echoes text only'));
    }
  });
}
