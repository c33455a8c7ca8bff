import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { resolveRequest } from '../core/resolve.js';
import { TallyBook } from '../core/tally.js';
import * as api from './api.js';
import { ConnectionGuard, DEFAULT_LIMITS, type ConnectionLimits } from './connection-guard.js';
import { healthz } from './health.js';
import { createRouterServer } from './http-server.js';
import { parseUrl, requestService, requestVersion, sendError } from './http-util.js';
import { RouterMetrics } from './metrics.js';
import type { PolicySourceHooks } from './policy-source.js';
import { PolicyWatcher } from './policy-watcher.js';
import { DEFAULT_PROXY_LIMITS, ProxyGate } from './proxy-gate.js';
import { HttpProxy } from './proxy-http.js';
import { proxyUpgrade, rejectUpgrade } from './proxy-ws.js';
import { monotonicMs, trackPolicy, type RouterOptions, type RouterState } from './router-state.js';
import { isRouterPath, isUiPath, normaliseTarget, ROUTER_PATHS, type NormalTarget } from './request-path.js';
import { buildStatus } from './status.js';
import { WebView } from './ui/web-view.js';
import { SessionBook, type CloseSessionsRequest } from './ws-sessions.js';
import type { Policy } from '../core/policy-schema.js';
import type { RouterEntry } from '../protocol/status-body.js';
import { routerAlarms } from './alarms.js';
import type { RouterPorts } from './router-ports.js';

export type { RouterOptions } from './router-state.js';
export type { RouterPorts } from './router-ports.js';

const NOT_ORIGIN_FORM = 'The request target must be a path starting with "/" (like /games/1?x=2).';

/**
 * The normal form of a request target, or why it is refused. Only
 * origin-form targets ("/path?query") are accepted: an asterisk-form
 * ("OPTIONS *") or absolute-form ("GET http://host/path") target would be
 * refused by the upstream client and otherwise end as a 502.
 */
function targetOf(req: IncomingMessage): NormalTarget {
  const target = req.url;
  if (target === undefined || !target.startsWith('/')) return { ok: false, message: NOT_ORIGIN_FORM };
  return normaliseTarget(target);
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
  private readonly gate: ProxyGate;
  private readonly sessions = new SessionBook();
  private readonly sockets = new Set<Socket | Duplex>();
  private readonly log: (line: string) => void;
  private readonly guard: ConnectionGuard;
  private readonly ui: WebView;
  private boundPort: number | undefined;

  /**
   * Everything the router is wired to comes in here, once (src/host/ builds
   * it): nothing is assigned to a router from outside afterwards. A port
   * may read things the host makes after the router (the coordination, the
   * data plane), so ports are functions, asked when needed.
   */
  constructor(readonly options: RouterOptions, private readonly ports: RouterPorts = {}) {
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    const tallies = ports.tallies ?? new TallyBook({ intervalMs: options.heartbeatIntervalMs, staleAfter: options.staleAfter });
    const hooks: PolicySourceHooks = {
      onLoad: (policy, previous) => {
        trackPolicy(tallies, policy);
        this.safeLog(`policy generation ${policy.generation} loaded${previous ? ` (was ${previous.generation})` : ''}`);
        ports.dataPlane?.policyLoaded(policy);
      },
      onError: (message) => {
        this.state.metrics.policyLoadErrors.inc();
        this.safeLog(`policy not loaded, ${this.state.watcher.current() ? `still serving generation ${this.state.watcher.current()!.generation}` : 'nothing to serve yet'}: ${message}`);
      },
    };
    const watcher = options.policySource?.(hooks) ?? new PolicyWatcher(join(options.stateDir, 'policy.json'), { pollMs: options.policyPollMs ?? 1000, ...hooks });
    const alarms = routerAlarms(watcher, ports);
    const metrics = new RouterMetrics({ policy: () => watcher.current(), tally: (service) => tallies.tally(service, monotonicMs()), alarms });
    if (ports.webhooks !== undefined) metrics.watchWebhooks(ports.webhooks);
    // Terminals are answered by what the data plane routes by: never sent to a version it cannot route to yet.
    const served = (): Policy | undefined => ports.dataPlane?.applied() ?? watcher.current();
    this.state = {
      options,
      watcher,
      served,
      tallies,
      metrics,
      loads: { terminals: (id) => tallies.terminals(id), ...(ports.unavailable === undefined ? {} : { unavailable: ports.unavailable }) },
      cursor: { next: 0 },
      now: monotonicMs,
      ...(ports.onAccepted === undefined ? {} : { onAccepted: ports.onAccepted }),
      status: async () => {
        const body = buildStatus(served(), watcher.fileState(), tallies, monotonicMs(), ports.dataPlane?.status());
        const raised = alarms();
        if (raised.length > 0) body.alarms = raised;
        body.routers = await this.routers();
        const coordination = ports.coordination?.();
        if (coordination !== undefined) body.coordination = coordination;
        return ports.statusExtras ? ports.statusExtras(body) : body;
      },
    };
    const limits: ConnectionLimits = { ...DEFAULT_LIMITS, ...options.limits };
    // node:http refuses a header timeout above the request timeout.
    limits.headersTimeoutMs = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
    this.guard = new ConnectionGuard(limits, this.log, metrics.registry);
    this.ui = new WebView(this.state, options.historyStore);
    const proxyLimits = { ...DEFAULT_PROXY_LIMITS, ...options.proxy };
    this.gate = new ProxyGate(proxyLimits, metrics.registry);
    this.proxy = new HttpProxy({ headersTimeoutMs: 30_000, bodyTimeoutMs: 60_000, connectionsPerUpstream: proxyLimits.connectionsPerProcess, listenHost: `${options.host}:${options.port}`, recorder: metrics.requests });
    this.server = createRouterServer(limits, {
      request: (req, res) => {
        this.handle(req, res).catch((error: unknown) => {
          this.log(`internal error on ${req.method} ${req.url}: ${(error as Error).stack ?? String(error)}`);
          sendError(res, 500, 'internal', 'The router failed on this request; it keeps serving others.');
        });
      },
      upgrade: (req, socket, head) => this.upgrade(req, socket, head),
      connection: (socket) => {
        if (!this.guard.admit(socket)) return;
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
      },
    });
  }

  /** This router's base URL as others reach it (a wildcard listen address is named by the host's name). */
  get url(): string {
    let host = this.options.host;
    if (host === '0.0.0.0' || host === '::' || host === '[::]') host = hostname();
    const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    return `http://${shown}:${this.boundPort ?? this.options.port}`;
  }

  /** This router's id among several: the host's name and the port. */
  get id(): string {
    return `${hostname()}:${this.boundPort ?? this.options.port}`;
  }

  /** The routers for status; when Redis cannot list them, this one alone, flagged by the coordination status. */
  private async routers(): Promise<RouterEntry[]> {
    const self: RouterEntry = { id: this.id, url: this.url, leader: true, ageMs: 0 };
    if (this.ports.routers === undefined) return [self];
    try {
      return await this.ports.routers();
    } catch {
      return [{ ...self, leader: false }];
    }
  }

  /** Client connections open now (the connection caps count these). */
  get openConnections(): number {
    return this.guard.openConnections;
  }

  /** A log line from a callback that must not throw into the loop that called it. */
  private safeLog(line: string): void {
    try {
      this.log(line);
    } catch {
      // Logging failed (a closed stderr); the router keeps serving.
    }
  }

  /** Loads the policy and starts listening; resolves with the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    await this.state.watcher.start();
    this.ui.start();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : this.options.port;
    this.boundPort = port;
    this.log(`router listening on http://${this.options.host}:${port} (${this.options.mode} mode)`);
    return { host: this.options.host, port };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const target = targetOf(req);
    if (!target.ok) {
      req.resume();
      return sendError(res, 400, 'invalid_path', target.message);
    }
    if (isRouterPath(target.pathname)) return this.handleApi(req, res, method, target.target);
    if (this.options.mode !== 'proxy') {
      req.resume();
      return sendError(res, 404, 'not_found', `No such path on the router: terminals log in with POST /v1/login and connect to the process they are given (the router is in redirect mode).`);
    }
    return this.forward(req, res, target.target);
  }

  private async handleApi(req: IncomingMessage, res: ServerResponse, method: string, target: string): Promise<void> {
    const url = new URL(target, 'http://router.invalid');
    if (isUiPath(url.pathname)) return this.ui.handle(req, res);
    const route = `${method} ${url.pathname}`;
    switch (route) {
      case 'POST /v1/login': return api.login(req, res, this.state);
      case 'GET /v1/resolve': return api.resolve(url, res, this.state);
      case 'POST /v1/heartbeat': return api.heartbeat(req, res, this.state);
      case 'GET /v1/status': return api.status(req, res, this.state);
      case 'GET /metrics': return api.metrics(req, res, this.state);
      case 'GET /healthz': return healthz(req, res, this.state);
    }
    req.resume();
    if (ROUTER_PATHS.includes(url.pathname)) return sendError(res, 405, 'method_not_allowed', `${method} is not allowed on ${url.pathname}.`);
    sendError(res, 404, 'not_found', `No such path on the router: ${url.pathname}.`);
  }

  /** Routes a proxied request or upgrade by the version it carries. */
  private route(req: IncomingMessage, kind: 'proxy' | 'websocket') {
    const policy = this.state.served();
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

  private async forward(req: IncomingMessage, res: ServerResponse, target: string): Promise<void> {
    const result = this.route(req, 'proxy');
    if (!result.ok) {
      req.resume();
      return sendError(res, result.status, result.error, result.message, 'versions' in result && result.versions ? { versions: result.versions } : undefined);
    }
    // Room at the process first (router.proxy): past the queue timeout the gate has answered 503 itself.
    const release = await this.gate.enter(`${result.address}:${result.port}`, req, res);
    if (release === undefined) return;
    try {
      await this.proxy.forward(req, res, result, target);
    } finally {
      release();
    }
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const target = targetOf(req);
    if (!target.ok) return rejectUpgrade(socket, 400, 'invalid_path', target.message);
    if (isRouterPath(target.pathname)) return rejectUpgrade(socket, 404, 'not_found', `${target.pathname} is the router's own and takes no upgrade.`);
    if (this.options.mode !== 'proxy') return rejectUpgrade(socket, 404, 'not_found', 'The router is in redirect mode: connect to the process that login gave you.');
    const result = this.route(req, 'websocket');
    if (!result.ok) return rejectUpgrade(socket, result.status, result.error, result.message);
    proxyUpgrade(req, socket, head, result, { target: target.target, listenHost: `${this.options.host}:${this.options.port}`, connectTimeoutMs: 5_000, recorder: this.state.metrics.requests }, this.sessions);
  }

  /**
   * Closes the WebSocket sessions the built-in proxy carries to `processId`
   * (a close frame with `code` and `reason` to the terminal and to the
   * process), paced evenly over `overMs`: at a drain deadline, before the
   * process is stopped, so its terminals reconnect a few at a time instead
   * of all at once. Resolves once all are closed, with how many it closed.
   */
  closeSessions(processId: string, request: CloseSessionsRequest): Promise<{ closed: number }> {
    return this.sessions.closeSessions(processId, request);
  }

  /** WebSocket (and other upgraded) sessions the built-in proxy carries to `processId` now. */
  openSessions(processId: string): number {
    return this.sessions.count(processId);
  }

  /**
   * Stops accepting, lets in-flight requests and sessions finish for the
   * grace period, then closes what is left.
   */
  async stop(): Promise<void> {
    this.state.watcher.stop();
    this.ui.stop();
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
