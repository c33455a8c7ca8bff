import type { Duplex } from 'node:stream';
import { FrameCursor } from './ws-frames.js';

/** A process's upgrade answer head longer than this is not followed: its session is then ended without a close frame. */
const MAX_HEAD_BYTES = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * One direction of a proxied upgrade: what `from` sends is written to `to`,
 * with backpressure (as `pipe` would). For a WebSocket it follows the frame
 * boundaries, so it can be stopped between two frames (`cut`) and the
 * router may then put a close frame of its own into `to`. The direction
 * from the process first carries its HTTP answer head, which is passed on
 * whole and read for its status: only a 101 starts frames.
 */
export class Relay {
  private cursor: FrameCursor | undefined;
  /** The answer head while it is incomplete (process → terminal only). */
  private head: Buffer | undefined;
  private stopped = false;
  private cutting: ((framed: boolean) => void) | undefined;

  constructor(private readonly from: Duplex, private readonly to: Duplex, opts: { websocket: boolean; answerHead: boolean }) {
    if (opts.websocket) {
      this.cursor = new FrameCursor();
      if (opts.answerHead) this.head = Buffer.alloc(0);
    }
    from.on('data', (chunk: Buffer) => this.onData(chunk));
    from.on('end', () => {
      if (!this.stopped) to.end();
    });
    to.on('drain', () => from.resume());
  }

  /**
   * Stops passing bytes on at the next frame boundary (at once when between
   * frames). Resolves true when stopped there, so a frame may follow; false
   * when this is not a WebSocket stream that can be cut cleanly (a non-101
   * answer, an oversized head), having stopped anyway.
   */
  cut(): Promise<boolean> {
    if (this.stopped) return Promise.resolve(this.cursor !== undefined && this.head === undefined);
    if (this.cursor === undefined) return Promise.resolve(this.stop(false));
    return new Promise((resolve) => {
      this.cutting = resolve;
      if (this.head === undefined && this.cursor!.atBoundary) this.stop(true);
    });
  }

  private stop(framed: boolean): boolean {
    this.stopped = true;
    // Whatever comes later is dropped, but read, so the peer's end and close still arrive.
    this.from.resume();
    const told = this.cutting;
    this.cutting = undefined;
    told?.(framed);
    return framed;
  }

  private onData(chunk: Buffer): void {
    if (this.stopped) return;
    let from = 0;
    if (this.head !== undefined) {
      from = this.readHead(chunk);
      // Not a WebSocket after all, and being cut: it is being ended, pass nothing more.
      if (this.stopped) return;
      if (this.head !== undefined || this.cursor === undefined) return this.pass(chunk, chunk.length);
    }
    const cursor = this.cursor;
    const stop = this.cutting !== undefined;
    const to = cursor === undefined ? chunk.length : cursor.walk(chunk, from, stop);
    this.pass(chunk, to);
    if (stop && cursor?.atBoundary === true) this.stop(true);
  }

  /** Reads the answer head off `chunk`; returns where frames begin in it (chunk.length while the head goes on). */
  private readHead(chunk: Buffer): number {
    const seen = this.head!.length;
    const joined = Buffer.concat([this.head!, chunk]);
    const end = joined.indexOf(HEAD_END, Math.max(0, seen - 3));
    if (end === -1) {
      if (joined.length > MAX_HEAD_BYTES) this.notWebSocket();
      else this.head = joined;
      return chunk.length;
    }
    this.head = undefined;
    if (!/^HTTP\/1\.[01] 101 /.test(joined.subarray(0, 13).toString('latin1'))) this.notWebSocket();
    return end + HEAD_END.length - seen;
  }

  private notWebSocket(): void {
    this.head = undefined;
    this.cursor = undefined;
    if (this.cutting !== undefined) this.stop(false);
  }

  private pass(chunk: Buffer, upTo: number): void {
    if (upTo <= 0) return;
    if (!this.to.write(upTo === chunk.length ? chunk : chunk.subarray(0, upTo))) this.from.pause();
  }
}
