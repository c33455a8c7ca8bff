/**
 * The small servers the router benchmark runs, each in a child process of
 * its own (node --import tsx bench/router/servers.ts <kind> <port> [upstreamPort]):
 *
 * - backend: a node:http server answering a short fixed body, the "service
 *   process" behind every proxy.
 * - proxy-undici: switchyard's own HttpProxy (dist/router/proxy-http.js, undici
 *   keep-alive pool, same options as the router) forwarding every request to
 *   the backend, without routing, so only the HTTP client differs from
 * - proxy-node: the same proxy written with node:http's request and a
 *   keep-alive Agent (same header handling, same pool size).
 *
 * Prints "ready <port>" on stdout once listening; exits on SIGTERM/SIGINT.
 */
import { Agent as HttpAgent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { downstreamResponseHeaders, upstreamRequestHeaders } from '../../dist/router/hop-headers.js';
import { sendError } from '../../dist/router/http-util.js';
import { HttpProxy } from '../../dist/router/proxy-http.js';
import { BACKEND_BODY_TEXT } from './backend-body.js';

const [kind, portText, upstreamText] = process.argv.slice(2);
const port = Number(portText);
const upstreamPort = Number(upstreamText);
const HOST = '127.0.0.1';
/** Same as the router's HttpProxy settings (src/router/router.ts). */
const CONNECTIONS_PER_UPSTREAM = 64;

function backend(): Server {
  const body = Buffer.from(BACKEND_BODY_TEXT);
  return createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
}

function proxyUndici(): Server {
  const proxy = new HttpProxy({ headersTimeoutMs: 30_000, bodyTimeoutMs: 60_000, connectionsPerUpstream: CONNECTIONS_PER_UPSTREAM, listenHost: `${HOST}:${port}` });
  const upstream = { address: HOST, port: upstreamPort };
  return createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
    void proxy.forward(req, res, upstream, req.url ?? '/');
  });
}

function proxyNode(): Server {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: CONNECTIONS_PER_UPSTREAM, keepAliveMsecs: 10_000 });
  return createServer({ keepAliveTimeout: 5_000 }, (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const up = request(
      { host: HOST, port: upstreamPort, method, path: req.url ?? '/', headers: upstreamRequestHeaders(req, `${HOST}:${port}`), agent },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, downstreamResponseHeaders(upRes.headers));
        upRes.pipe(res);
      },
    );
    up.on('error', (error) => {
      if (res.headersSent) res.destroy(error);
      else sendError(res, 502, 'upstream_unreachable', error.message);
    });
    req.pipe(up);
  });
}

const makers: Record<string, () => Server> = { backend, 'proxy-undici': proxyUndici, 'proxy-node': proxyNode };
const make = kind === undefined ? undefined : makers[kind];
if (make === undefined || !Number.isInteger(port) || port <= 0 || (kind !== 'backend' && !(upstreamPort > 0))) {
  process.stderr.write('usage: bench/router/servers.ts backend <port> | proxy-undici <port> <upstreamPort> | proxy-node <port> <upstreamPort>\n');
  process.exit(2);
}
const server = make();
server.listen(port, HOST, () => process.stdout.write(`ready ${port}\n`));
const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
