import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent } from 'undici';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './hop-headers.js';
import { sendError } from './http-util.js';

export interface Upstream {
  address: string;
  port: number;
}

export interface HttpProxyOptions {
  /** How long to wait for the upstream's response headers. */
  headersTimeoutMs: number;
  /** How long the upstream's body may stall. */
  bodyTimeoutMs: number;
  /** Keep-alive connections per upstream process. */
  connectionsPerUpstream: number;
  listenHost: string;
}

/**
 * Forwards HTTP requests to service processes over undici's keep-alive pools
 * (one pool per process origin, made on first use). undici was chosen after
 * measuring it against a node:http proxy: see docs/performance.md.
 */
export class HttpProxy {
  private readonly agent: Agent;
  private readonly options: HttpProxyOptions;

  constructor(options: HttpProxyOptions) {
    this.options = options;
    this.agent = new Agent({
      connections: options.connectionsPerUpstream,
      keepAliveTimeout: 10_000,
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
      pipelining: 1,
    });
  }

  /** Forwards `req` to `upstream` under `target`, the normalised request target. */
  forward(req: IncomingMessage, res: ServerResponse, upstream: Upstream, target: string): Promise<void> {
    const method = req.method ?? 'GET';
    const hasBody = method !== 'GET' && method !== 'HEAD' && (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined);
    const origin = `http://${upstream.address.includes(':') ? `[${upstream.address}]` : upstream.address}:${upstream.port}`;
    return this.agent
      .stream(
        {
          origin,
          path: target,
          method: method as 'GET',
          headers: upstreamRequestHeaders(req, this.options.listenHost),
          body: hasBody ? req : null,
          opaque: res,
        },
        ({ statusCode, headers, opaque }) => {
          const out = opaque as ServerResponse;
          out.writeHead(statusCode, downstreamResponseHeaders(headers));
          return out;
        },
      )
      .then(
        () => undefined,
        (error: unknown) => {
          if (res.headersSent) {
            // The answer had started: all that can be done is end the connection.
            res.destroy(error as Error);
            return;
          }
          const code = (error as { code?: string }).code ?? '';
          const timedOut = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
          sendError(
            res,
            timedOut ? 504 : 502,
            timedOut ? 'upstream_timeout' : 'upstream_unreachable',
            timedOut
              ? `The process at ${origin} did not answer in time.`
              : `The process at ${origin} could not be reached (${code || (error as Error).message}); the router keeps routing, try again.`,
          );
        },
      );
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
