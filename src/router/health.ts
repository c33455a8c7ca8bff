import type { IncomingMessage, ServerResponse } from 'node:http';
import { signedByCli } from './api.js';
import { sendJson } from './http-util.js';
import type { RouterState } from './router-state.js';

/** Whether a /healthz request carries the router's credentials: signed with the CLI's key (docs/signing.md). */
export function healthCredentialsValid(req: IncomingMessage, state: RouterState): boolean {
  return signedByCli(req, state);
}

/**
 * Removes file-system paths from a message meant for a remote reader: the
 * state folder by name, then anything else that looks like an absolute path
 * (a symlinked policy file may point anywhere).
 */
export function withoutPaths(message: string, stateDir: string): string {
  return message
    .replaceAll(stateDir, '<state folder>')
    .replace(/(?<![\w<>])\/(?:[^\s/'"`:,;()]+\/?)+/g, '<path>');
}

/**
 * GET /healthz. Anyone may ask whether the router is serving and at which
 * generation (200 when a valid policy is loaded, 503 before). The state of
 * the policy file, its last error and the mode are for callers with
 * credentials; no answer ever holds a file-system path.
 */
export function healthz(req: IncomingMessage, res: ServerResponse, state: RouterState): void {
  const file = state.watcher.fileState();
  const ok = state.served() !== undefined;
  const open = { ok, generation: file.generation };
  if (!healthCredentialsValid(req, state)) return sendJson(res, ok ? 200 : 503, open);
  const error = file.error === null ? null : withoutPaths(file.error, state.options.stateDir);
  sendJson(res, ok ? 200 : 503, { ...open, fileBroken: file.fileBroken, error, mode: state.options.mode });
}
