import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Counter, Gauge, type Registry } from 'prom-client';

export interface ConnectionLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerClient: number;
}

/** The config's defaults (src/config/defaults.ts), for routers built without a config. */
export const DEFAULT_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 10_000,
  maxConnectionsPerClient: 1000,
};

/** How long a socket being closed may take to flush its last bytes before it is destroyed anyway. */
const CLOSE_FLUSH_MS = 1000;

/**
 * Ends a socket with a last message and destroys it once that is flushed,
 * or after a short while if the peer does not read. `end()` alone leaves a
 * half-closed socket (and its file descriptor) for as long as the peer
 * keeps its side open.
 */
export function endAndDestroy(socket: Duplex, last?: string): void {
  if (socket.destroyed) return;
  if (socket.writableFinished) {
    socket.destroy();
    return;
  }
  const timer = setTimeout(() => socket.destroy(), CLOSE_FLUSH_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.once('finish', () => socket.destroy());
  if (last !== undefined) socket.end(last);
  else if (!socket.writableEnded) socket.end();
}

/** One address per client, whether it arrived over IPv4 or as IPv4-mapped IPv6. */
function clientOf(socket: Socket): string {
  const address = socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * Caps the router's open client connections, in all and per client address.
 * A connection over a cap is destroyed before a byte is read. Reaching a cap
 * is logged once, and leaving it once more with how many were refused, so a
 * flood costs two log lines, not one per connection.
 */
export class ConnectionGuard {
  private open = 0;
  private readonly perClient = new Map<string, number>();
  /** Refused connections since the cap was reached; undefined while under it. */
  private refusedAtTotal: number | undefined;
  private readonly refusedAtClient = new Map<string, number>();
  private readonly refused: Counter<'cap'>;

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly log: (line: string) => void,
    registry: Registry,
  ) {
    const registers = [registry];
    this.refused = new Counter({ name: 'switchyard_connections_refused_total', help: 'Client connections closed at once because a cap was reached, by cap (total, client)', labelNames: ['cap'], registers });
    const guard = this;
    new Gauge({
      name: 'switchyard_connections_open',
      help: 'Client connections open to the router',
      registers,
      collect() {
        this.set(guard.open);
      },
    });
  }

  get openConnections(): number {
    return this.open;
  }

  /** Counts a new connection, or destroys it when a cap is reached; true when admitted. */
  admit(socket: Socket): boolean {
    const client = clientOf(socket);
    const mine = this.perClient.get(client) ?? 0;
    if (this.open >= this.limits.maxConnections) return this.refuse(socket, 'total', client);
    if (mine >= this.limits.maxConnectionsPerClient) return this.refuse(socket, 'client', client);
    this.open += 1;
    this.perClient.set(client, mine + 1);
    socket.once('close', () => this.release(client));
    return true;
  }

  private refuse(socket: Socket, cap: 'total' | 'client', client: string): false {
    socket.destroy();
    this.refused.inc({ cap });
    if (cap === 'total') {
      if (this.refusedAtTotal === undefined) {
        this.refusedAtTotal = 0;
        this.log(`connection cap reached: ${this.open} client connections open (router.maxConnections is ${this.limits.maxConnections}); new connections are closed at once until some end`);
      }
      this.refusedAtTotal += 1;
    } else {
      const before = this.refusedAtClient.get(client);
      if (before === undefined) {
        this.log(`connection cap reached for client ${client}: ${this.perClient.get(client)} connections open (router.maxConnectionsPerClient is ${this.limits.maxConnectionsPerClient}); its new connections are closed at once until some end`);
      }
      this.refusedAtClient.set(client, (before ?? 0) + 1);
    }
    return false;
  }

  private release(client: string): void {
    this.open -= 1;
    const left = (this.perClient.get(client) ?? 1) - 1;
    if (left <= 0) this.perClient.delete(client);
    else this.perClient.set(client, left);
    if (this.refusedAtTotal !== undefined && this.open < this.limits.maxConnections) {
      this.log(`connections below router.maxConnections again (${this.refusedAtTotal} refused meanwhile)`);
      this.refusedAtTotal = undefined;
    }
    const refused = this.refusedAtClient.get(client);
    if (refused !== undefined && left < this.limits.maxConnectionsPerClient) {
      this.log(`client ${client} below router.maxConnectionsPerClient again (${refused} refused meanwhile)`);
      this.refusedAtClient.delete(client);
    }
  }
}
