import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseHeartbeat } from '../core/heartbeat.js';
import { parseProcessId } from '../core/names.js';
import { resolveLogin, resolveRequest, type RouteFailure } from '../core/resolve.js';
import { CLI_KEY_ID, bodySha256 } from '../protocol/signing.js';
import { RequestVerifier, isLoopback, signatureHeaders, type AuthError } from './auth.js';
import { BodyError, readJsonBody, sendError, sendJson } from './http-util.js';
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
  const policy = state.served();
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
  const policy = state.served();
  if (policy === undefined) return noPolicy(res, state);
  const service = url.searchParams.get('service') ?? undefined;
  const version = url.searchParams.get('version') ?? undefined;
  const result = resolveRequest(policy, service, version, state.loads, state.cursor);
  state.metrics.decisions.inc({ kind: 'resolve', outcome: result.ok ? 'routed' : result.error });
  if (!result.ok) return sendFailure(res, result);
  sendJson(res, 200, { service: result.service, version: result.version, address: result.address, port: result.port, process: result.processId });
}

/** One verifier per router: it holds the signatures seen inside the window. */
const verifiers = new WeakMap<RouterState, RequestVerifier>();

function verifierOf(state: RouterState): RequestVerifier {
  let verifier = verifiers.get(state);
  if (verifier === undefined) {
    verifier = new RequestVerifier(state.options.token);
    verifiers.set(state, verifier);
  }
  return verifier;
}

const isProcessKey = (keyId: string): boolean => parseProcessId(keyId) !== null;
const isCliKey = (keyId: string): boolean => keyId === CLI_KEY_ID;

const EMPTY_SHA256 = bodySha256('');

/** Whether a GET without a body is signed with the CLI's key (for answers that add details, never refuse). */
export function signedByCli(req: IncomingMessage, state: RouterState): boolean {
  const headers = signatureHeaders(req);
  return !('ok' in headers) && verifierOf(state).verify(headers, EMPTY_SHA256, isCliKey).ok;
}

/** Checks a signed request without a body (GET); answers 401 and returns false when it fails. */
function signedGet(req: IncomingMessage, res: ServerResponse, state: RouterState, what: string): boolean {
  // The signature covers an empty body: a GET that carries one is not the request that was signed.
  if ((req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined) {
    req.resume();
    sendError(res, 400, 'invalid_body', `${what}: a GET carries no body.`);
    return false;
  }
  const headers = signatureHeaders(req);
  const result = 'ok' in headers ? headers : verifierOf(state).verify(headers, EMPTY_SHA256, isCliKey);
  if (result.ok) return true;
  sendError(res, 401, 'unauthorized', `${what}: ${result.message}`, { reason: result.error });
  return false;
}

const AUTH_OUTCOME: Record<AuthError, string> = { unsigned: 'rejected', wrong_key: 'rejected', bad_signature: 'rejected', expired: 'expired', replayed: 'replayed' };

export async function heartbeat(req: IncomingMessage, res: ServerResponse, state: RouterState): Promise<void> {
  const refuse = (outcome: string, error: AuthError | 'wrong_process', message: string): void => {
    state.metrics.heartbeats.inc({ outcome });
    sendError(res, 401, 'unauthorized', `Heartbeat refused: ${message}`, { reason: error });
  };
  const headers = signatureHeaders(req);
  if ('ok' in headers) {
    req.resume();
    return refuse('rejected', headers.error, headers.message);
  }
  // The body is hashed as it arrives, so the signature covers the very bytes that are parsed.
  const hash = createHash('sha256');
  req.on('data', (chunk: Buffer) => hash.update(chunk));
  const data = await body(req, res, state);
  if (data === undefined) {
    state.metrics.heartbeats.inc({ outcome: 'invalid' });
    return;
  }
  const auth = verifierOf(state).verify(headers, hash.digest('hex'), isProcessKey);
  if (!auth.ok) return refuse(AUTH_OUTCOME[auth.error], auth.error, auth.message);
  const parsed = parseHeartbeat(data);
  if (!parsed.ok) {
    state.metrics.heartbeats.inc({ outcome: 'invalid' });
    return sendError(res, 400, 'invalid_body', parsed.message);
  }
  if (parsed.heartbeat.process !== auth.keyId) {
    return refuse('wrong_process', 'wrong_process', `it is signed with the key of ${auth.keyId} but speaks for ${parsed.heartbeat.process}; a process may only report for itself.`);
  }
  const now = state.now();
  const outcome = state.tallies.ingest(parsed.heartbeat, now);
  state.metrics.heartbeats.inc({ outcome });
  if (outcome === 'accepted') {
    // Only where the router sees no traffic (redirect mode): in proxy mode it (or HAProxy) counts the requests itself.
    // Counted once per accepted beat (a repeated seq is not accepted), so no beat's counters count twice.
    const m = parsed.heartbeat.metrics;
    if (m !== undefined && state.options.mode === 'redirect') state.metrics.requests.reported(parsed.heartbeat.service, parsed.heartbeat.version, m.requests, m.errors);
    state.onAccepted?.(parsed.heartbeat, now);
  }
  if (outcome === 'seq_jump') {
    return sendError(res, 409, 'seq_jump', `Heartbeat seq ${parsed.heartbeat.seq} is implausibly far ahead of the last one accepted for ${auth.keyId}; count up by one a beat (or restart from 0).`);
  }
  res.writeHead(204).end();
}

export async function status(req: IncomingMessage, res: ServerResponse, state: RouterState): Promise<void> {
  if (!signedGet(req, res, state, 'Status needs a request signed with the CLI\'s key')) return;
  sendJson(res, 200, await state.status());
}

export async function metrics(req: IncomingMessage, res: ServerResponse, state: RouterState): Promise<void> {
  if (!isLoopback(req.socket.remoteAddress) && !signedGet(req, res, state, 'Metrics are open on loopback only; from elsewhere sign the request with the CLI\'s key')) return;
  const text = await state.metrics.text();
  res.writeHead(200, { 'content-type': state.metrics.contentType });
  res.end(text);
}
