import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseHeartbeat } from '../core/heartbeat.js';
import { resolveLogin, resolveRequest, type RouteFailure } from '../core/resolve.js';
import { isLoopback, tokenMatches } from './auth.js';
import { BodyError, bearerToken, readJsonBody, sendError, sendJson } from './http-util.js';
import type { RouterState } from './router-state.js';

function sendFailure(res: ServerResponse, failure: RouteFailure): void {
  const extra = failure.versions !== undefined ? { versions: failure.versions } : undefined;
  sendError(res, failure.status, failure.error, failure.message, extra);
}

function noPolicy(res: ServerResponse, state: RouterState): void {
  const reason = state.watcher.fileState().error ?? 'no policy has been loaded yet';
  sendError(res, 503, 'no_policy', `The router has no valid routing policy (${reason}): run \`switchyard init\` or fix the policy file.`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function body(req: IncomingMessage, res: ServerResponse, state: RouterState): Promise<Record<string, unknown> | undefined> {
  try {
    const data = await readJsonBody(req, state.options.maxBodyBytes);
    if (!isObject(data)) {
      sendError(res, 400, 'invalid_body', 'The body must be a JSON object.');
      return undefined;
    }
    return data;
  } catch (error) {
    if (error instanceof BodyError) sendError(res, error.status, error.code, error.message);
    else sendError(res, 400, 'invalid_body', 'The body could not be read.');
    return undefined;
  }
}

export async function login(req: IncomingMessage, res: ServerResponse, state: RouterState): Promise<void> {
  const data = await body(req, res, state);
  if (data === undefined) return;
  const policy = state.watcher.current();
  if (policy === undefined) return noPolicy(res, state);
  if (data.service !== undefined && typeof data.service !== 'string') {
    return sendError(res, 400, 'invalid_body', 'service must be a string naming the service.');
  }
  if (data.terminal !== undefined && typeof data.terminal !== 'string') {
    return sendError(res, 400, 'invalid_body', 'terminal must be a string that identifies the terminal.');
  }
  const result = resolveLogin(policy, data.service, data.version, data.terminal, state.loads, state.cursor);
  if (!result.ok) {
    state.metrics.decisions.inc({ kind: 'login', outcome: result.error });
    return sendFailure(res, result);
  }
  state.metrics.decisions.inc({ kind: 'login', outcome: result.action });
  if (result.action === 'upgrade') {
    return sendJson(res, 200, { action: 'upgrade', service: result.service, targetVersion: result.targetVersion });
  }
  sendJson(res, 200, { action: 'connect', service: result.service, version: result.version, address: result.address, port: result.port, process: result.processId });
}

export function resolve(url: URL, res: ServerResponse, state: RouterState): void {
  const policy = state.watcher.current();
  if (policy === undefined) return noPolicy(res, state);
  const service = url.searchParams.get('service') ?? undefined;
  const version = url.searchParams.get('version') ?? undefined;
  const result = resolveRequest(policy, service, version, state.loads, state.cursor);
  state.metrics.decisions.inc({ kind: 'resolve', outcome: result.ok ? 'routed' : result.error });
  if (!result.ok) return sendFailure(res, result);
  sendJson(res, 200, { service: result.service, version: result.version, address: result.address, port: result.port, process: result.processId });
}

export async function heartbeat(req: IncomingMessage, res: ServerResponse, state: RouterState): Promise<void> {
  if (!tokenMatches(bearerToken(req), state.options.token)) {
    state.metrics.heartbeats.inc({ outcome: 'rejected' });
    req.resume();
    return sendError(res, 401, 'unauthorized', 'A heartbeat needs the header Authorization: Bearer <token>, with the token from the state folder.');
  }
  const data = await body(req, res, state);
  if (data === undefined) {
    state.metrics.heartbeats.inc({ outcome: 'invalid' });
    return;
  }
  const parsed = parseHeartbeat(data);
  if (!parsed.ok) {
    state.metrics.heartbeats.inc({ outcome: 'invalid' });
    return sendError(res, 400, 'invalid_body', parsed.message);
  }
  const outcome = state.tallies.ingest(parsed.heartbeat, state.now());
  state.metrics.heartbeats.inc({ outcome });
  res.writeHead(204).end();
}

export async function status(req: IncomingMessage, res: ServerResponse, state: RouterState): Promise<void> {
  if (!tokenMatches(bearerToken(req), state.options.token)) {
    return sendError(res, 401, 'unauthorized', 'Status needs the header Authorization: Bearer <token>, with the token from the state folder.');
  }
  sendJson(res, 200, await state.status());
}

export async function metrics(req: IncomingMessage, res: ServerResponse, state: RouterState): Promise<void> {
  if (!isLoopback(req.socket.remoteAddress) && !tokenMatches(bearerToken(req), state.options.token)) {
    return sendError(res, 401, 'unauthorized', 'Metrics are open on loopback only; from elsewhere send Authorization: Bearer <token>.');
  }
  const text = await state.metrics.text();
  res.writeHead(200, { 'content-type': state.metrics.contentType });
  res.end(text);
}
