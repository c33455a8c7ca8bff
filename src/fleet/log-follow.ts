import { open, stat } from 'node:fs/promises';

/** Splits a stream of text into whole lines, keeping a partial last line for the next chunk. */
export function lineSplitter(onLine: (line: string) => void): { push(text: string): void; flush(): void } {
  let rest = '';
  return {
    push(text) {
      const parts = (rest + text).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) onLine(line);
    },
    flush() {
      if (rest !== '') onLine(rest);
      rest = '';
    },
  };
}

const POLL_MS = 250;

/**
 * `tail -n lines -F` of a local file, by polling its size: the last lines,
 * then every line appended, until the signal aborts. A file that does not
 * exist yet, or is truncated (PM2's log rotation), is read from its start.
 */
export async function followFile(path: string, lines: number, onLine: (line: string) => void, signal: AbortSignal): Promise<void> {
  const size = async () => (await stat(path).catch(() => undefined))?.size;
  const read = async (from: number, to: number): Promise<string> => {
    const file = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(to - from);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, from);
      return buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await file.close();
    }
  };
  let offset = (await size()) ?? 0;
  if (offset > 0 && lines > 0) {
    // Whole lines only: a log of many megabytes is not read to show its last lines.
    const start = Math.max(0, offset - 256 * 1024);
    const text = (await read(start, offset)).replace(/\n$/, '');
    const all = text.split('\n');
    for (const line of all.slice(start === 0 ? -lines : 1).slice(-lines)) onLine(line);
  }
  const splitter = lineSplitter(onLine);
  while (!signal.aborted) {
    await new Promise<void>((done) => {
      const onAbort = () => (clearTimeout(timer), done());
      const timer = setTimeout(() => (signal.removeEventListener('abort', onAbort), done()), POLL_MS);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    const now = await size();
    if (now === undefined) continue;
    if (now < offset) offset = 0;
    if (now > offset) {
      splitter.push(await read(offset, now));
      offset = now;
    }
  }
  splitter.flush();
}
