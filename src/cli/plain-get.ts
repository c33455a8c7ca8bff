import { connect } from 'node:net';

/**
 * GET of a small JSON document from the router over a bare TCP socket:
 * HTTP/1.1 with `Connection: close`, the answer read to the end. For the
 * fast status path only, where loading node:http (its agent, parser and
 * client) costs more than the whole request; the router always answers JSON
 * with a Content-Length. Anything unexpected (chunked, a redirect, a broken
 * answer) resolves undefined and the caller takes the ordinary path.
 */
export function plainGetJson(baseUrl: string, path: string, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; body: unknown } | undefined> {
  let url: URL;
  try {
    url = new URL(path, baseUrl);
  } catch {
    return Promise.resolve(undefined);
  }
  if (url.protocol !== 'http:') return Promise.resolve(undefined);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host, port: Number(url.port || 80) });
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on('connect', () => socket.write(`${lines.join('\r\n')}\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => resolve(undefined));
    socket.on('close', () => resolve(parseAnswer(Buffer.concat(chunks))));
  });
}

function parseAnswer(raw: Buffer): { status: number; body: unknown } | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const head = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3}) /.exec(head[0] ?? '');
  const length = head.map((h) => /^content-length:\s*(\d+)\s*$/i.exec(h)).find((m) => m !== null);
  if (status === null || length === undefined || head.some((h) => /^transfer-encoding:/i.test(h))) return undefined;
  const body = raw.subarray(end + 4);
  if (body.length !== Number(length[1])) return undefined;
  try {
    return { status: Number(status[1]), body: JSON.parse(body.toString('utf8')) };
  } catch {
    return undefined;
  }
}
