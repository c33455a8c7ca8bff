import { connect, type Socket } from 'node:net';

/**
 * Sends many HTTP/1.1 requests pipelined on a few keep-alive connections,
 * in batches (write a batch whole, then read its answers), and counts the
 * answers by status. For floods that must finish in seconds: a request per
 * round trip would take minutes.
 */

/** Reads answers off one socket: each `expect(n)` resolves with the statuses of the next n answers. */
class AnswerReader {
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: { left: number; statuses: number[]; resolve: (s: number[]) => void; reject: (e: Error) => void } | undefined;

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.drain();
    });
    const fail = (error: Error) => this.waiting?.reject(error);
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the router closed a pipelined connection before answering every request')));
  }

  expect(n: number): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.waiting = { left: n, statuses: [], resolve, reject };
      this.drain();
    });
  }

  private drain(): void {
    const w = this.waiting;
    while (w !== undefined && w.left > 0) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = this.buffer.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (this.buffer.length < end + 4 + length) return;
      w.statuses.push(Number(head.slice(9, 12)));
      this.buffer = this.buffer.subarray(end + 4 + length);
      w.left -= 1;
    }
    if (w !== undefined) {
      this.waiting = undefined;
      w.resolve(w.statuses);
    }
  }
}

/**
 * Sends `count` requests made by `request(i)` (whole raw HTTP/1.1 requests)
 * over `connections` connections to host:port, `batch` at a time on each.
 * Resolves with how many answers had each status.
 */
export async function pipelined(host: string, port: number, count: number, request: (i: number) => string, opts: { connections?: number; batch?: number } = {}): Promise<Map<number, number>> {
  const connections = opts.connections ?? 4;
  const batch = opts.batch ?? 500;
  const statuses = new Map<number, number>();
  let next = 0;
  const lane = async (): Promise<void> => {
    const socket = connect({ host, port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const reader = new AnswerReader(socket);
    try {
      while (next < count) {
        const from = next;
        const to = Math.min(count, from + batch);
        next = to;
        const parts: string[] = [];
        for (let i = from; i < to; i++) parts.push(request(i));
        socket.write(parts.join(''));
        for (const status of await reader.expect(to - from)) statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    } finally {
      socket.destroy();
    }
  };
  await Promise.all(Array.from({ length: connections }, lane));
  return statuses;
}

/** A raw POST request with a JSON body and the given headers. */
export function rawPost(path: string, host: string, headers: Record<string, string>, body: string): string {
  const lines = [`POST ${path} HTTP/1.1`, `host: ${host}`, `content-length: ${Buffer.byteLength(body)}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}
