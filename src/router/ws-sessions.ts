import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { endAndDestroy } from './connection-guard.js';
import { closeFrame, isSendableCloseCode, MAX_CLOSE_REASON_BYTES } from './ws-frames.js';
import { Relay } from './ws-relay.js';

/** How long a frame in flight may take to end, and a peer to answer a close frame, before its socket is ended anyway. */
const CLOSE_WAIT_MS = 2000;

/** `promise`'s value, or undefined once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const closedOf = (socket: Duplex): Promise<void> => new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

/**
 * One upgrade the built-in proxy carries: the terminal's socket, the
 * process's, and a relay each way. The router can end it itself, the way
 * a WebSocket server would: a close frame to each side, put between frames.
 */
export class ProxiedSession {
  /** Resolves once both sockets are closed, however the session ended. */
  readonly closed: Promise<void>;
  private readonly down: Relay;
  private readonly up: Relay;
  private closing = false;
  private ended = false;

  constructor(private readonly client: Duplex, private readonly upstream: Socket, websocket: boolean) {
    this.down = new Relay(upstream, client, { websocket, answerHead: true });
    this.up = new Relay(client, upstream, { websocket, answerHead: false });
    this.closed = Promise.all([closedOf(client), closedOf(upstream)]).then(() => {
      this.ended = true;
    });
  }

  /**
   * Closes the session with `code` and `reason`: the terminal gets a close
   * frame as from its server, the process one as from its client, each
   * between two frames. Resolves true once both sockets are closed; false
   * when the session had ended, or was being closed, already.
   */
  async close(code: number, reason: string): Promise<boolean> {
    if (this.closing || this.ended) return false;
    this.closing = true;
    const cut = await within(Promise.all([this.down.cut(), this.up.cut()]), CLOSE_WAIT_MS);
    // Without a clean cut (no 101 yet, not a WebSocket, a frame that would not end) the sockets are just ended.
    if (cut?.[0] === true) {
      this.client.write(closeFrame(code, reason, false));
      if (cut[1]) this.upstream.write(closeFrame(code, reason, true));
      // Each peer answers with its close frame and ends its side; the relays drop those answers.
      for (const socket of [this.client, this.upstream]) socket.once('end', () => endAndDestroy(socket));
      await within(this.closed, CLOSE_WAIT_MS);
    }
    endAndDestroy(this.client);
    endAndDestroy(this.upstream);
    await this.closed;
    return true;
  }
}

export interface CloseSessionsRequest {
  /** The close code (1012, service restart, at a drain deadline). */
  code: number;
  /** At most 123 bytes of UTF-8. */
  reason: string;
  /** The closes are spread evenly over this many milliseconds (services.<name>.drain.closeOver). */
  overMs: number;
}

/** The sessions the built-in proxy carries, by the process id each goes to. */
export class SessionBook {
  private readonly byProcess = new Map<string, Set<ProxiedSession>>();

  add(processId: string, session: ProxiedSession): void {
    let sessions = this.byProcess.get(processId);
    if (sessions === undefined) {
      sessions = new Set();
      this.byProcess.set(processId, sessions);
    }
    const held = sessions;
    held.add(session);
    void session.closed.then(() => {
      held.delete(session);
      if (held.size === 0 && this.byProcess.get(processId) === held) this.byProcess.delete(processId);
    });
  }

  /** Sessions open now to `processId`. */
  count(processId: string): number {
    return this.byProcess.get(processId)?.size ?? 0;
  }

  /**
   * Closes the sessions open now to `processId`, one every overMs / n
   * milliseconds (the first at once), so their terminals do not all come
   * back at the same instant. Resolves once every one is closed, with how
   * many this call closed (one that ended meanwhile on its own is not counted).
   */
  async closeSessions(processId: string, request: CloseSessionsRequest): Promise<{ closed: number }> {
    const { code, reason, overMs } = request;
    if (!isSendableCloseCode(code)) throw new RangeError(`closeSessions: ${code} is not a close code a server may send (1000-1003, 1007-1014, 3000-4999; 1012 is "service restart").`);
    if (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) throw new RangeError(`closeSessions: the reason is ${Buffer.byteLength(reason)} bytes of UTF-8; a close frame holds at most ${MAX_CLOSE_REASON_BYTES}.`);
    if (!Number.isFinite(overMs) || overMs < 0) throw new RangeError(`closeSessions: overMs must be a number of milliseconds, 0 or more, got ${overMs}.`);
    const sessions = [...(this.byProcess.get(processId) ?? [])];
    const step = sessions.length === 0 ? 0 : overMs / sessions.length;
    const start = performance.now();
    const closing: Array<Promise<boolean>> = [];
    for (const [i, session] of sessions.entries()) {
      const wait = start + i * step - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      closing.push(session.close(code, reason));
    }
    const results = await Promise.all(closing);
    return { closed: results.filter(Boolean).length };
  }
}
