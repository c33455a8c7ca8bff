import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionLimits } from './connection-guard.js';
import { rejectUpgrade } from './proxy-ws.js';

/** Request heads are bounded: an oversized one is answered 431 and its socket closed. */
export const MAX_HEADER_BYTES = 16 * 1024;

/** What a socket is told when it is dropped for being too slow or malformed, as node:http itself would answer. */
function clientErrorAnswer(code: string | undefined): { status: number; error: string; message: string } {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, error: 'headers_too_large', message: `Request headers are over ${MAX_HEADER_BYTES} bytes.` };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, error: 'request_timeout', message: 'The request did not arrive in time (router.headersTimeout, router.requestTimeout).' };
  return { status: 400, error: 'bad_request', message: 'The request could not be parsed as HTTP/1.1.' };
}

/** How often node:http looks for connections past their header or request timeout (its default is 30 s). */
function checkingIntervalMs(limits: ConnectionLimits): number {
  return Math.max(100, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4)));
}

export interface ServerHandlers {
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** A new client connection; false when it was turned away (the connection caps). */
  connection(socket: Socket): void;
}

/**
 * The router's node:http server with its bounds: header and request
 * timeouts, a checking interval that enforces them promptly, a bounded
 * head. A CONNECT is answered 405; a malformed, oversized or too slow
 * request is answered when no response has started, and its socket is
 * destroyed either way.
 */
export function createRouterServer(limits: ConnectionLimits, handlers: ServerHandlers): Server {
  const server = createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: checkingIntervalMs(limits),
  }, handlers.request);
  server.on('upgrade', handlers.upgrade);
  // Without a listener node drops a CONNECT without a word; answer it like any other unsupported request.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    rejectUpgrade(socket, 405, 'method_not_allowed', 'CONNECT is not supported: the router is not a forward proxy.');
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!socket.writable || inFlight?.headersSent === true) return socket.destroy();
    const answer = clientErrorAnswer(error.code);
    rejectUpgrade(socket, answer.status, answer.error, answer.message);
  });
  server.on('connection', handlers.connection);
  return server;
}
