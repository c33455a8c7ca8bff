import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseHeartbeat } from '../core/heartbeat.js';
import { parseProcessId } from '../core/names.js';
import type { Policy } from '../core/policy-schema.js';
import { resolveLogin, resolveRequest, type RouteFailure } from '../core/resolve.js';
import type { HeartbeatReply } from '../protocol/bodies.js';
import { CLI_KEY_ID, bodySha256 } from '../protocol/signing.js';
import { RequestVerifier, isLoopback, signatureHeaders, type AuthError, type AuthResult } from './auth.js';
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

type Refusal = Extract<AuthResult, { ok: false }>;

/**
 * Answers a refused signed request: 401, or 429 with Retry-After for a key
 * that used up its replay memory (it may sign again once its oldest
 * signatures leave the window). Every refusal is counted by endpoint and reason.
 */
function refuse(res: ServerResponse, state: RouterState, endpoint: string, refusal: Refusal | { error: 'wrong_process'; message: string }, what: string): void {
  state.metrics.signedRefused.inc({ endpoint, reason: refusal.error });
  if (refusal.error === 'too_many' && 'retryAfterS' in refusal && refusal.retryAfterS !== undefined) {
    res.setHeader('retry-after', String(refusal.retryAfterS));
    return sendError(res, 429, 'too_many_requests', `${what}: ${refusal.message}`, { reason: refusal.error });
  }
  sendError(res, 401, 'unauthorized', `${what}: ${refusal.message}`, { reason: refusal.error });
}

/** Checks a signed request without a body (GET); answers 401 (or 429) and returns false when it fails. */
function signedGet(req: IncomingMessage, res: ServerResponse, state: RouterState, endpoint: string, what: string): boolean {
  // The signature covers an empty body: a GET that carries one is not the request that was signed.
  if ((req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined) {
    req.resume();
    sendError(res, 400, 'invalid_body', `${what}: a GET carries no body.`);
    return false;
  }
  const headers = signatureHeaders(req);
  const result = 'ok' in headers ? headers : verifierOf(state).verify(headers, EMPTY_SHA256, isCliKey);
  if (result.ok) return true;
  refuse(res, state, endpoint, result, what);
  return false;
}

const AUTH_OUTCOME: Record<AuthError, string> = { unsigned: 'rejected', wrong_key: 'rejected', bad_signature: 'rejected', expired: 'expired', replayed: 'replayed', too_many: 'too_many' };

/** The drain notice for a process of the loaded policy whose version drains; undefined for any other. */
function drainNotice(policy: Policy | undefined, service: string, processId: string): HeartbeatReply | undefined {
  const svc = policy !== undefined && Object.hasOwn(policy.services, service) ? policy.services[service] : undefined;
  const entry = svc?.processes.find((p) => p.id === processId);
  if (entry?.state !== 'draining') return undefined;
  return { drain: { since: entry.since ?? null, deadline: entry.drainDeadline ?? null } };
}

export async function heartbeat(req: IncomingMessage, res: ServerResponse, state: RouterState): Promise<void> {
  const refused = (outcome: string, refusal: Refusal | { error: 'wrong_process'; message: string }): void => {
    state.metrics.heartbeats.inc({ outcome });
    refuse(res, state, 'heartbeat', refusal, 'Heartbeat refused');
  };
  const headers = signatureHeaders(req);
  if ('ok' in headers) {
    req.resume();
    return refused('rejected', headers);
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
  if (!auth.ok) return refused(AUTH_OUTCOME[auth.error], auth);
  const parsed = parseHeartbeat(data);
  if (!parsed.ok) {
    state.metrics.heartbeats.inc({ outcome: 'invalid' });
    return sendError(res, 400, 'invalid_body', parsed.message);
  }
  if (parsed.heartbeat.process !== auth.keyId) {
    return refused('wrong_process', { error: 'wrong_process', message: `it is signed with the key of ${auth.keyId} but speaks for ${parsed.heartbeat.process}; a process may only report for itself.` });
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
  // While its version drains the process is told so on every beat (DESIGN.md): 200 with the notice, else 204.
  const notice = drainNotice(state.watcher.current(), parsed.heartbeat.service, auth.keyId);
  if (notice !== undefined) return sendJson(res, 200, notice);
  res.writeHead(204).end();
}

export async function status(req: IncomingMessage, res: ServerResponse, state: RouterState): Promise<void> {
  if (!signedGet(req, res, state, 'status', 'Status needs a request signed with the CLI\'s key')) return;
  sendJson(res, 200, await state.status());
}

export async function metrics(req: IncomingMessage, res: ServerResponse, state: RouterState): Promise<void> {
  if (!isLoopback(req.socket.remoteAddress) && !signedGet(req, res, state, 'metrics', 'Metrics are open on loopback only; from elsewhere sign the request with the CLI\'s key')) return;
  const text = await state.metrics.text();
  res.writeHead(200, { 'content-type': state.metrics.contentType });
  res.end(text);
}
