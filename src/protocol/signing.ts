import { createHash, createHmac, randomBytes } from 'node:crypto';

/**
 * Signed requests to the router (docs/signing.md), shared by the signers
 * (the heartbeat SDK, the CLI) and the router that verifies. No secret ever
 * crosses the wire: a request carries who signed it, when, a nonce and an
 * HMAC, so whoever catches it learns nothing it could use with another body,
 * another path or later.
 *
 * Pure node:crypto and nothing of the router's, so a service can take this
 * file as the reference when it implements the scheme in another language.
 */

export const SIGNATURE_HEADERS = {
  keyId: 'x-switchyard-key-id',
  timestamp: 'x-switchyard-timestamp',
  nonce: 'x-switchyard-nonce',
  signature: 'x-switchyard-signature',
} as const;

/** The key id the CLI signs with. Never a process id (those hold "@" and "#"). */
export const CLI_KEY_ID = 'switchyard-cli';

/** How far a request's timestamp may be from the router's clock, in seconds. */
export const SIGNATURE_WINDOW_S = 30;

const SCHEME = 'switchyard-v1';

/**
 * The key of one signer: HMAC-SHA256 keyed with the router's secret (the text
 * of `.switchyard/token`) over "switchyard-v1 key\n<key id>", as lower-case hex.
 * A process is given only its own key, which cannot be turned into another's.
 */
export function deriveKey(secret: string, keyId: string): string {
  return createHmac('sha256', secret).update(`${SCHEME} key\n${keyId}`).digest('hex');
}

export function bodySha256(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

export interface SignedParts {
  method: string;
  /** The request target exactly as sent: path and query, like `/v1/status?x=1`. */
  path: string;
  /** Unix time in whole seconds, as decimal text. */
  timestamp: string;
  keyId: string;
  nonce: string;
  /** Lower-case hex sha256 of the body bytes (of the empty string without a body). */
  bodySha256: string;
}

/** The text that is signed: one field a line, in this order, no trailing newline. */
export function stringToSign(p: SignedParts): string {
  return [SCHEME, p.method.toUpperCase(), p.path, p.timestamp, p.keyId, p.nonce, p.bodySha256].join('\n');
}

export function signature(key: string, parts: SignedParts): string {
  return createHmac('sha256', key).update(stringToSign(parts)).digest('hex');
}

/** The headers that sign one request made with `key` (the signer's own, already derived). */
export function signRequest(key: string, keyId: string, method: string, path: string, body: string | Uint8Array = '', nowMs = Date.now()): Record<string, string> {
  const parts: SignedParts = {
    method,
    path,
    timestamp: String(Math.floor(nowMs / 1000)),
    keyId,
    nonce: randomBytes(16).toString('hex'),
    bodySha256: bodySha256(body),
  };
  return {
    [SIGNATURE_HEADERS.keyId]: keyId,
    [SIGNATURE_HEADERS.timestamp]: parts.timestamp,
    [SIGNATURE_HEADERS.nonce]: parts.nonce,
    [SIGNATURE_HEADERS.signature]: signature(key, parts),
  };
}

/** The CLI's headers for a request, from the router's secret. */
export function signAsCli(secret: string, method: string, path: string, body: string | Uint8Array = ''): Record<string, string> {
  return signRequest(deriveKey(secret, CLI_KEY_ID), CLI_KEY_ID, method, path, body);
}
