import type { IncomingMessage, ServerResponse } from 'node:http';

export interface ErrorBody {
  error: string;
  message: string;
  [key: string]: unknown;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, error: string, message: string, extra?: Record<string, unknown>): void {
  sendJson(res, status, { error, message, ...extra } satisfies ErrorBody);
}

export class BodyError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads a JSON body of at most `limit` bytes. A body over the limit is
 * refused as soon as it is known (by content-length, or while streaming),
 * without buffering the rest.
 */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      req.resume();
      reject(new BodyError(413, 'body_too_large', `The body is ${declared} bytes; at most ${limit} are accepted.`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        req.resume();
        reject(new BodyError(413, 'body_too_large', `The body is over ${limit} bytes, the most accepted.`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        reject(new BodyError(400, 'invalid_body', 'The body is empty; a JSON object is expected.'));
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch (error) {
        reject(new BodyError(400, 'invalid_body', `The body is not valid JSON: ${(error as Error).message}.`));
      }
    });
    req.on('error', (error) => {
      if (done) return;
      done = true;
      reject(new BodyError(400, 'invalid_body', `The body could not be read: ${error.message}.`));
    });
  });
}

/** The value of one cookie, or undefined; tolerant of malformed Cookie headers. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }
  return undefined;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export interface Carriers {
  versionHeader: string;
  serviceHeader: string;
}

/**
 * The version a request carries, in DESIGN.md's order: header, query
 * parameter `switchyard-version`, cookie `switchyard-version`.
 */
export function requestVersion(req: IncomingMessage, url: URL, carriers: Carriers): string | undefined {
  return (
    single(req.headers[carriers.versionHeader]) ??
    url.searchParams.get('switchyard-version') ??
    cookieValue(single(req.headers.cookie), 'switchyard-version')
  );
}

export function requestService(req: IncomingMessage, carriers: Carriers): string | undefined {
  return single(req.headers[carriers.serviceHeader]);
}

/** Parses a request target safely; a malformed one yields undefined. */
export function parseUrl(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? '/', 'http://router.invalid');
  } catch {
    return undefined;
  }
}

