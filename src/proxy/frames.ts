/**
 * Tracks WebSocket frame boundaries in a byte stream (RFC 6455 5.2), so that jobgate can
 * stop relaying at the end of a frame and insert a close frame of its own without
 * corrupting the stream.
 */
export class FrameBoundaryTracker {
  /** Payload bytes still to come in the current frame. */
  private remaining = 0;
  private readonly header = Buffer.alloc(14);
  private headerLength = 0;

  /** True between frames. */
  get atBoundary(): boolean {
    return this.remaining === 0 && this.headerLength === 0;
  }

  /**
   * Consumes `chunk` and returns how many of its bytes to relay: all of them, or with
   * `stopAtBoundary`, only up to the first frame end (0 when already at one).
   */
  consume(chunk: Buffer, stopAtBoundary: boolean): number {
    let position = 0;
    while (position < chunk.length) {
      if (stopAtBoundary && this.atBoundary) return position;
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - position);
        this.remaining -= take;
        position += take;
        continue;
      }
      this.header[this.headerLength++] = chunk[position++]!;
      const needed = this.headerSize();
      if (needed !== undefined && this.headerLength === needed) {
        this.remaining = this.payloadLength();
        this.headerLength = 0;
      }
    }
    return position;
  }

  /** The full header size once enough of it is known. */
  private headerSize(): number | undefined {
    if (this.headerLength < 2) return undefined;
    const length7 = this.header[1]! & 0x7f;
    const masked = (this.header[1]! & 0x80) !== 0;
    return 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + (masked ? 4 : 0);
  }

  private payloadLength(): number {
    const length7 = this.header[1]! & 0x7f;
    if (length7 === 126) return this.header.readUInt16BE(2);
    if (length7 === 127) return Number(this.header.readBigUInt64BE(2));
    return length7;
  }
}

/** An unmasked close frame (server to client) with a status code and a short reason. */
export function closeFrame(code: number, reason: string): Buffer {
  const text = Buffer.from(reason).subarray(0, 123);
  const frame = Buffer.alloc(4 + text.length);
  frame[0] = 0x88; // FIN + opcode 8 (close)
  frame[1] = 2 + text.length;
  frame.writeUInt16BE(code, 2);
  text.copy(frame, 4);
  return frame;
}
