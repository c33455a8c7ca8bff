import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection and are never forwarded. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'host',
]);

function connectionTokens(headers: IncomingHttpHeaders): Set<string> | undefined {
  const value = headers.connection;
  if (value === undefined) return undefined;
  return new Set(String(value).toLowerCase().split(',').map((t) => t.trim()).filter((t) => t !== ''));
}

/**
 * Headers about the client that only the router can vouch for: whatever the
 * client sent under these names is dropped, and the router's own values are
 * set (docs/security.md). The router speaks plain HTTP, so the protocol is http.
 */
export function isClientForwardingHeader(name: string): boolean {
  return name === 'forwarded' || name.startsWith('x-forwarded-');
}

export function forwardedHeaders(req: IncomingMessage, listenHost: string): Record<'x-forwarded-for' | 'x-forwarded-proto' | 'x-forwarded-host', string> {
  const host = req.headers.host;
  return {
    'x-forwarded-for': req.socket.remoteAddress ?? '',
    'x-forwarded-proto': 'http',
    'x-forwarded-host': host === undefined || host === '' ? listenHost : host,
  };
}

/** The request headers to send upstream, with the router's x-forwarded-* set. */
export function upstreamRequestHeaders(req: IncomingMessage, listenHost: string): Record<string, string | string[]> {
  const named = connectionTokens(req.headers);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name) || isClientForwardingHeader(name)) continue;
    out[name] = value;
  }
  return { ...out, ...forwardedHeaders(req, listenHost) };
}

/** The response headers to send back to the terminal. */
export function downstreamResponseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = connectionTokens(headers);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name === 'host' || HOP_BY_HOP.has(name) || named?.has(name)) continue;
    out[name] = value;
  }
  return out;
}
