import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { cookieValue } from '../http-util.js';

export const COOKIE_NAME = 'switchyard_ui';

/**
 * The web view's session cookie: an HMAC of a fixed label under the token,
 * never the token itself, so a cookie that leaks (a browser profile, a
 * proxy's log) does not give the heartbeat and status secret away. It
 * changes when the token does, which signs every browser out.
 */
export function cookieFor(token: string): string {
  return createHmac('sha256', token).update('switchyard web view v1').digest('base64url');
}

export function setCookieHeader(token: string): string {
  return `${COOKIE_NAME}=${cookieFor(token)}; Path=/ui; HttpOnly; SameSite=Strict`;
}

function cookieMatches(presented: string | undefined, token: string): boolean {
  if (presented === undefined) return false;
  const expected = Buffer.from(cookieFor(token));
  const given = Buffer.from(presented);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Signed in: the cookie. The secret itself is accepted only once, at
 * sign-in (`?token=` or the form), never on every request: scripts read the
 * same data, signed, from GET /v1/status (docs/signing.md).
 */
export function isSignedIn(req: IncomingMessage, token: string): boolean {
  const cookie = Array.isArray(req.headers.cookie) ? req.headers.cookie[0] : req.headers.cookie;
  return cookieMatches(cookieValue(cookie, COOKIE_NAME), token);
}
