import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent } from 'undici';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './hop-headers.js';
import { sendError } from './http-util.js';
import type { ResponseRecorder } from './request-metrics.js';

export interface Upstream {
  address: string;
  port: number;
  /** Set on routed requests: answers are counted per service and version. */
  service?: string;
  version?: string;
}

/** undici's codes for a request that ended because the terminal went away, not the process. */
const CLIENT_GONE = new Set(['UND_ERR_ABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

export interface HttpProxyOptions {
  /** How long to wait for the upstream's response headers. */
  headersTimeoutMs: number;
  /** How long the upstream's body may stall. */
  bodyTimeoutMs: number;
  /** Keep-alive connections per upstream process. */
  connectionsPerUpstream: number;
  listenHost: string;
  /** Told of each answer (or upstream failure) of a routed request, with its latency. */
  recorder?: ResponseRecorder;
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
    const started = performance.now();
    let status = 0;
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
          status = statusCode;
          const out = opaque as ServerResponse;
          out.writeHead(statusCode, downstreamResponseHeaders(headers));
          return out;
        },
      )
      .then(
        () => this.record(upstream, status, started),
        (error: unknown) => {
          // undici hands its own error to the response it destroys and reports a premature close: the cause is the former.
          const code = ((res.errored ?? error) as { code?: string }).code ?? '';
          // A terminal that went away says nothing about the version; an answer cut off by the process does.
          this.record(upstream, CLIENT_GONE.has(code) ? status : -1, started);
          if (res.headersSent) {
            // The answer had started: all that can be done is end the connection.
            res.destroy(error as Error);
            return;
          }
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

  /** status: the answer's; -1 an upstream failure; 0 nothing to count (the terminal left before an answer). */
  private record(upstream: Upstream, status: number, started: number): void {
    const recorder = this.options.recorder;
    if (recorder === undefined || upstream.service === undefined || upstream.version === undefined || status === 0) return;
    const ms = performance.now() - started;
    if (status === -1) recorder.upstreamError(upstream.service, upstream.version, ms);
    else recorder.response(upstream.service, upstream.version, status, ms);
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
