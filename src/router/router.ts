import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { resolveRequest } from '../core/resolve.js';
import { TallyBook } from '../core/tally.js';
import * as api from './api.js';
import { parseUrl, requestService, requestVersion, sendError } from './http-util.js';
import { RouterMetrics } from './metrics.js';
import { PolicyWatcher } from './policy-watcher.js';
import { HttpProxy } from './proxy-http.js';
import { proxyUpgrade, rejectUpgrade } from './proxy-ws.js';
import type { RouterOptions, RouterState } from './router-state.js';
import type { Policy } from '../core/policy-schema.js';
import { buildStatus, type DataPlaneStatus, type StatusBody } from './status.js';

export type { RouterOptions } from './router-state.js';

const MAX_HEADER_BYTES = 16 * 1024;

const NOT_ORIGIN_FORM = 'The request target must be a path starting with "/" (like /games/1?x=2).';

/**
 * Only origin-form targets ("/path?query") are forwarded: an asterisk-form
 * ("OPTIONS *") or absolute-form ("GET http://host/path") target is refused
 * by the upstream client and would otherwise end as a 502.
 */
function isOriginForm(target: string | undefined): boolean {
  return target !== undefined && target.startsWith('/');
}

/**
 * The router: answers logins and resolves from the live policy, proxies
 * HTTP and WebSocket traffic in proxy mode, ingests heartbeats and serves
 * status and metrics. Nothing a client sends may crash it: every handler's
 * failure ends as a JSON error on that one request.
 */
export class Router {
  readonly state: RouterState;
  private readonly server: Server;
  private readonly proxy: HttpProxy;
  private readonly sockets = new Set<Socket | Duplex>();
  private readonly log: (line: string) => void;
  /** Adds PM2's view to status when the router can ask PM2 (the rollout issue). */
  statusExtras: ((body: StatusBody) => Promise<StatusBody>) | undefined;
  /** Hooks for an external data plane (HAProxy, wired by the CLI): told of each policy, asked for its status. */
  onPolicyLoaded: ((policy: Policy) => void) | undefined;
  dataPlaneStatus: (() => DataPlaneStatus) | undefined;

  constructor(readonly options: RouterOptions) {
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    const tallies = new TallyBook({ intervalMs: options.heartbeatIntervalMs, staleAfter: options.staleAfter });
    const watcher = new PolicyWatcher(join(options.stateDir, 'policy.json'), {
      pollMs: options.policyPollMs ?? 1000,
      onLoad: (policy, previous) => {
        this.log(`policy generation ${policy.generation} loaded${previous ? ` (was ${previous.generation})` : ''}`);
        this.onPolicyLoaded?.(policy);
      },
      onError: (message) => {
        this.state.metrics.policyLoadErrors.inc();
        this.log(`policy not loaded, ${this.state.watcher.current() ? `still serving generation ${this.state.watcher.current()!.generation}` : 'nothing to serve yet'}: ${message}`);
      },
    });
    const metrics = new RouterMetrics({ policy: () => watcher.current(), tally: (service) => tallies.tally(service, Date.now()) });
    this.state = {
      options,
      watcher,
      tallies,
      metrics,
      loads: { terminals: (id) => tallies.terminals(id) },
      cursor: { next: 0 },
      now: () => Date.now(),
      status: async () => {
        const body = buildStatus(watcher.current(), watcher.fileState(), tallies, Date.now(), this.dataPlaneStatus?.());
        return this.statusExtras ? this.statusExtras(body) : body;
      },
    };
    this.proxy = new HttpProxy({ headersTimeoutMs: 30_000, bodyTimeoutMs: 60_000, connectionsPerUpstream: 64, listenHost: `${options.host}:${options.port}` });
    this.server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: 10_000, requestTimeout: 60_000, keepAliveTimeout: 5_000 }, (req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.log(`internal error on ${req.method} ${req.url}: ${(error as Error).stack ?? String(error)}`);
        sendError(res, 500, 'internal', 'The router failed on this request; it keeps serving others.');
      });
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    // Without a listener node drops a CONNECT without a word; answer it like any other unsupported request.
    this.server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => socket.destroy());
      rejectUpgrade(socket, 405, 'method_not_allowed', 'CONNECT is not supported: the router is not a forward proxy.');
    });
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
      if (!socket.writable) return socket.destroy();
      const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
      rejectUpgrade(socket, tooLarge ? 431 : 400, tooLarge ? 'headers_too_large' : 'bad_request', tooLarge ? `Request headers are over ${MAX_HEADER_BYTES} bytes.` : 'The request could not be parsed as HTTP/1.1.');
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Loads the policy and starts listening; resolves with the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    await this.state.watcher.start();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : this.options.port;
    this.log(`router listening on http://${this.options.host}:${port} (${this.options.mode} mode)`);
    return { host: this.options.host, port };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    if (path.startsWith('/v1/') || path === '/metrics' || path === '/healthz' || path.startsWith('/metrics?') || path.startsWith('/healthz?')) {
      return this.handleApi(req, res, method);
    }
    if (this.options.mode !== 'proxy') {
      req.resume();
      return sendError(res, 404, 'not_found', `No such path on the router: terminals log in with POST /v1/login and connect to the process they are given (the router is in redirect mode).`);
    }
    return this.forward(req, res);
  }

  private async handleApi(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    const url = parseUrl(req);
    if (url === undefined) return sendError(res, 400, 'bad_request', 'The request path could not be parsed.');
    const route = `${method} ${url.pathname}`;
    switch (route) {
      case 'POST /v1/login': return api.login(req, res, this.state);
      case 'GET /v1/resolve': return api.resolve(url, res, this.state);
      case 'POST /v1/heartbeat': return api.heartbeat(req, res, this.state);
      case 'GET /v1/status': return api.status(req, res, this.state);
      case 'GET /metrics': return api.metrics(req, res, this.state);
      case 'GET /healthz': return api.healthz(res, this.state);
    }
    req.resume();
    const known = ['/v1/login', '/v1/resolve', '/v1/heartbeat', '/v1/status', '/metrics', '/healthz'];
    if (known.includes(url.pathname)) return sendError(res, 405, 'method_not_allowed', `${method} is not allowed on ${url.pathname}.`);
    sendError(res, 404, 'not_found', `No such path on the router: ${url.pathname}.`);
  }

  /** Routes a proxied request or upgrade by the version it carries. */
  private route(req: IncomingMessage, kind: 'proxy' | 'websocket') {
    const policy = this.state.watcher.current();
    if (policy === undefined) return { ok: false as const, status: 503, error: 'no_policy', message: 'The router has no valid routing policy yet.' };
    const carriers = { versionHeader: this.options.versionHeader, serviceHeader: this.options.serviceHeader };
    let version: string | undefined = req.headers[carriers.versionHeader] as string | undefined;
    if (version === undefined) {
      const url = parseUrl(req);
      version = url === undefined ? undefined : requestVersion(req, url, carriers);
    }
    const result = resolveRequest(policy, requestService(req, carriers), version, this.state.loads, this.state.cursor);
    this.state.metrics.decisions.inc({ kind, outcome: result.ok ? 'routed' : result.error });
    return result;
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!isOriginForm(req.url)) {
      req.resume();
      return sendError(res, 400, 'bad_request', NOT_ORIGIN_FORM);
    }
    const result = this.route(req, 'proxy');
    if (!result.ok) {
      req.resume();
      return sendError(res, result.status, result.error, result.message, 'versions' in result && result.versions ? { versions: result.versions } : undefined);
    }
    await this.proxy.forward(req, res, result);
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (this.options.mode !== 'proxy') return rejectUpgrade(socket, 404, 'not_found', 'The router is in redirect mode: connect to the process that login gave you.');
    if (!isOriginForm(req.url)) return rejectUpgrade(socket, 400, 'bad_request', NOT_ORIGIN_FORM);
    const result = this.route(req, 'websocket');
    if (!result.ok) return rejectUpgrade(socket, result.status, result.error, result.message);
    this.sockets.add(socket);
    proxyUpgrade(req, socket, head, result, 5_000, () => this.sockets.delete(socket));
  }

  /**
   * Stops accepting, lets in-flight requests and sessions finish for the
   * grace period, then closes what is left.
   */
  async stop(): Promise<void> {
    this.state.watcher.stop();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const grace = this.options.shutdownGraceMs ?? 10_000;
    const timer = setTimeout(() => {
      for (const socket of this.sockets) socket.destroy();
      this.server.closeAllConnections();
    }, grace);
    timer.unref();
    await closed;
    clearTimeout(timer);
    await this.proxy.close();
  }
}
