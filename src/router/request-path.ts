/**
 * Request targets: which paths are the router's own, and the normal form of
 * every other path before it is forwarded. See docs/design.md ("Paths the
 * router keeps") and docs/security.md.
 */

/** The router's own endpoints, matched exactly; in proxy mode every other path is the application's. */
export const ROUTER_PATHS: readonly string[] = ['/v1/login', '/v1/resolve', '/v1/heartbeat', '/v1/status', '/metrics', '/healthz'];

/** The web view: `/ui` and everything under `/ui/`. */
export function isUiPath(pathname: string): boolean {
  return pathname === '/ui' || pathname.startsWith('/ui/');
}

export function isRouterPath(pathname: string): boolean {
  return ROUTER_PATHS.includes(pathname) || isUiPath(pathname);
}

export type NormalTarget =
  | { ok: true; /** Normalised path and the query as sent. */ target: string; pathname: string }
  | { ok: false; message: string };

const DOT = new Set(['.', '%2e']);
const DOT_DOT = new Set(['..', '.%2e', '%2e.', '%2e%2e']);

/** Decodes %XX escapes byte by byte (never throws), and reads "\" as "/" as some servers do. */
function decodeOnce(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))).replaceAll('\\', '/');
}

/**
 * Whether a path climbs above the root as any server might read it: decoded
 * up to three times (so "%252e%252e" counts), with "\" as "/". An empty or
 * "." segment does not descend, so "//.." escapes too.
 */
function escapesRoot(path: string): boolean {
  let view = path.replaceAll('\\', '/');
  for (let i = 0; i < 3; i += 1) {
    const next = decodeOnce(view);
    if (next === view) break;
    view = next;
  }
  let depth = 0;
  for (const segment of view.split('/').slice(1)) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      depth -= 1;
      if (depth < 0) return true;
    } else {
      depth += 1;
    }
  }
  return false;
}

/** RFC 3986 §5.2.4 dot-segment removal, where "%2e" counts as "."; other escapes are kept as sent. */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.split('/').slice(1);
  segments.forEach((segment, i) => {
    const lower = segment.toLowerCase();
    const last = i === segments.length - 1;
    if (DOT.has(lower)) {
      if (last) out.push('');
    } else if (DOT_DOT.has(lower)) {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(segment);
    }
  });
  return `/${out.join('/')}`;
}

/**
 * The normal form of an origin-form request target ("/path?query"). A path
 * that would escape the root, in any encoding, is refused rather than
 * cleaned, because the sender meant something a well-behaved client never
 * sends.
 */
export function normaliseTarget(target: string): NormalTarget {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  if (escapesRoot(path)) return { ok: false, message: 'The request path climbs above the root ("..", in some encoding): it is refused, not forwarded.' };
  const pathname = removeDotSegments(path);
  return { ok: true, target: `${pathname}${query}`, pathname };
}
