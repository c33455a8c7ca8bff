import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { endAndDestroy } from './connection-guard.js';
import { forwardedHeaders, isClientForwardingHeader } from './hop-headers.js';
import type { Upstream } from './proxy-http.js';
import type { ResponseRecorder } from './request-metrics.js';
import { ProxiedSession, type SessionBook } from './ws-sessions.js';

/** Writes a small JSON error as a raw HTTP response on a socket that asked to upgrade, then closes it for good. */
export function rejectUpgrade(socket: Duplex, status: number, error: string, message: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ error, message });
  const reason = STATUS_CODES[status] ?? 'Error';
  endAndDestroy(
    socket,
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The request head replayed to the process: the normalised target, the client's headers but its forwarding ones, and the router's. */
function requestHead(req: IncomingMessage, target: string, listenHost: string): string {
  const lines = [`${req.method ?? 'GET'} ${target} HTTP/1.1`];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (isClientForwardingHeader(name.toLowerCase())) continue;
    lines.push(`${name}: ${raw[i + 1]!}`);
  }
  for (const [name, value] of Object.entries(forwardedHeaders(req, listenHost))) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export interface UpgradeTarget {
  /** The normalised request target. */
  target: string;
  listenHost: string;
  connectTimeoutMs: number;
  /** Told of the process's answer to the upgrade (its status line), or of a failure to reach it. */
  recorder?: ResponseRecorder;
}

/** Counts the upgrade by the status line of the process's first bytes ("HTTP/1.1 101 …"), or as a failure when it fails before any. */
function countUpgrade(upstreamSocket: Socket, upstream: Upstream, how: UpgradeTarget): (failed: boolean) => void {
  const { recorder } = how;
  const { service, version } = upstream;
  if (recorder === undefined || service === undefined || version === undefined) return () => undefined;
  const started = performance.now();
  let counted = false;
  const count = (status: number): void => {
    if (counted) return;
    counted = true;
    if (status > 0) recorder.response(service, version, status, performance.now() - started);
    else recorder.upstreamError(service, version, performance.now() - started);
  };
  upstreamSocket.once('data', (chunk: Buffer) => count(Number(chunk.toString('latin1', 9, 12)) || -1));
  return (failed) => {
    if (failed) count(-1);
  };
}

/**
 * Proxies a WebSocket (or any HTTP/1.1 upgrade) by replaying the request
 * head to the process and then relaying bytes both ways; the process's own
 * 101 answer reaches the terminal unchanged. A session lives as long as
 * both sockets do: the router cuts it only when asked (closeSessions at a
 * drain deadline), so each session is entered in `sessions` under the id of
 * the process it goes to.
 */
export function proxyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, upstream: Upstream & { processId: string }, how: UpgradeTarget, sessions: SessionBook, onClose?: () => void): void {
  const upstreamSocket: Socket = connect({ host: upstream.address, port: upstream.port });
  const counted = countUpgrade(upstreamSocket, upstream, how);
  let connected = false;
  const timer = setTimeout(() => {
    if (!connected) upstreamSocket.destroy(new Error('connect timeout'));
  }, how.connectTimeoutMs);
  timer.unref();

  upstreamSocket.once('connect', () => {
    connected = true;
    clearTimeout(timer);
    upstreamSocket.setNoDelay(true);
    upstreamSocket.write(requestHead(req, how.target, how.listenHost));
    if (head.length > 0) upstreamSocket.write(head);
    // Frames are followed only for WebSocket upgrades: other protocols can only be ended, never closed with a frame.
    const websocket = String(req.headers.upgrade).toLowerCase() === 'websocket';
    sessions.add(upstream.processId, new ProxiedSession(socket, upstreamSocket, websocket));
  });

  let closed = false;
  const finish = (): void => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    onClose?.();
  };
  upstreamSocket.on('error', (error) => {
    counted(true);
    if (!connected) {
      rejectUpgrade(socket, 502, 'upstream_unreachable', `The process at ${upstream.address}:${upstream.port} could not be reached (${(error as NodeJS.ErrnoException).code ?? error.message}).`);
    } else {
      socket.destroy();
    }
    finish();
  });
  socket.on('error', () => {
    upstreamSocket.destroy();
    finish();
  });
  // One side gone ends the session: the other is ended and then destroyed, never left half-open.
  upstreamSocket.on('close', () => {
    // Closed before any answer while the terminal still waits: the process failed it.
    counted(!socket.destroyed);
    endAndDestroy(socket);
    finish();
  });
  socket.on('close', () => {
    endAndDestroy(upstreamSocket);
    finish();
  });
}
