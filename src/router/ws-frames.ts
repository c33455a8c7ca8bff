import { randomBytes } from 'node:crypto';

/**
 * Just enough WebSocket framing (RFC 6455, section 5) for the router to end
 * a proxied session itself: follow where frames end in each direction, so a
 * close frame is only ever put between two frames, and build that close
 * frame. Payloads are never copied or decoded, so extensions negotiated
 * between the terminal and its process (permessage-deflate) pass untouched:
 * control frames are never compressed, and may come between the fragments
 * of a message.
 */

/** Header length once its first two bytes are known: 2, plus 2 or 8 of extended length, plus 4 of mask. */
function headerLength(b1: number): number {
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

function payloadLength(head: readonly number[]): number {
  const len7 = head[1]! & 0x7f;
  if (len7 < 126) return len7;
  if (len7 === 126) return (head[2]! << 8) | head[3]!;
  // 64-bit length: exact up to 2^53, far beyond any frame a process can send.
  let n = 0;
  for (let i = 2; i < 10; i++) n = n * 256 + head[i]!;
  return n;
}

/** Follows frame boundaries along one direction of a WebSocket byte stream. */
export class FrameCursor {
  /** The bytes of a header split across chunks. */
  private head: number[] = [];
  /** Payload bytes of the current frame still to come. */
  private remaining = 0;

  /** True between two frames: a frame put into the stream here is whole. */
  get atBoundary(): boolean {
    return this.remaining === 0 && this.head.length === 0;
  }

  /**
   * Walks `chunk` from `from`; with `stop`, stops at the first frame
   * boundary. Returns the offset it reached (chunk.length when it walked it all).
   */
  walk(chunk: Uint8Array, from: number, stop: boolean): number {
    let i = from;
    while (i < chunk.length) {
      if (stop && this.atBoundary) return i;
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        continue;
      }
      this.head.push(chunk[i]!);
      i += 1;
      if (this.head.length >= 2 && this.head.length === headerLength(this.head[1]!)) {
        this.remaining = payloadLength(this.head);
        this.head = [];
      }
    }
    return i;
  }
}

/** Close codes a peer may send (RFC 6455 7.4; 1004-1006 and 1015 are reserved). */
export function isSendableCloseCode(code: number): boolean {
  return Number.isInteger(code) && ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999));
}

/** The most reason bytes a close frame holds: a control frame's payload is at most 125, two of them the code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * A close frame with `code` and `reason`: unmasked as a server sends it to
 * the terminal, masked (a fresh key) as a client must send it to the process.
 */
export function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  const text = Buffer.from(reason, 'utf8');
  const payload = Buffer.alloc(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  const header = Buffer.from([0x88, payload.length | (masked ? 0x80 : 0)]);
  if (!masked) return Buffer.concat([header, payload]);
  const mask = randomBytes(4);
  for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
  return Buffer.concat([header, mask, payload]);
}
