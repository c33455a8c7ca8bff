import { deriveKey, signAsCli, signRequest } from '../../src/protocol/signing.js';

/**
 * Signed requests for tests, through the same module the SDK, the CLI and
 * the router use (docs/signing.md). `secret` is the router's token file.
 */

/** Headers for a heartbeat body signed by `signer` (default: the process the body names). */
export function heartbeatHeaders(secret: string, body: string | Buffer, signer?: string): Record<string, string> {
  const keyId = signer ?? (JSON.parse(body.toString()) as { process: string }).process;
  return { 'content-type': 'application/json', ...signRequest(deriveKey(secret, keyId), keyId, 'POST', '/v1/heartbeat', body) };
}

/** Headers for a GET (status, metrics) signed with the CLI's key. */
export function cliHeaders(secret: string, path = '/v1/status'): Record<string, string> {
  return signAsCli(secret, 'GET', path);
}
