import WebSocket from 'ws';
import { http } from '../helpers/http.js';

/**
 * Pieces the HAProxy suites share: WebSockets held through HAProxy, and a
 * probe that keeps asking for a version and says how long it was not
 * answered by that version after an event (a reload, a map entry deleted).
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function openSocket(url: string): Promise<WebSocket> {
  return new Promise((done, fail) => {
    const socket = new WebSocket(url, { handshakeTimeout: 5_000 });
    socket.once('open', () => done(socket));
    socket.once('error', fail);
    socket.once('unexpected-response', (_req, res) => fail(new Error(`upgrade refused: ${res.statusCode}`)));
  });
}

/** Sends `text` and resolves with the parsed echo; rejects after 5 s or when the socket closes first. */
export function roundTrip<T = { version: string; echo: string }>(socket: WebSocket, text: string): Promise<T> {
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`no echo of ${text}`)), 5_000);
    const closed = () => fail(new Error(`the socket closed before echoing ${text}`));
    socket.once('close', closed);
    socket.once('message', (data) => {
      clearTimeout(timer);
      socket.off('close', closed);
      done(JSON.parse(String(data)) as T);
    });
    socket.send(text);
  });
}

export interface Probe {
  /** Marks the event the outage is measured from. */
  mark(): void;
  /** Stops and reports: answers counted, and the last wrong answer after the mark (ms after it; undefined: none). */
  stop(): Promise<{ answers: number; wrong: number; lastWrongMs: number | undefined; lastWrong: string | undefined }>;
}

/**
 * Asks HAProxy for each of `requests` in turn (every few ms, bounded by
 * `maxMs`) and checks that the answer came from `version`.
 */
export function probe(edge: string, requests: Array<{ path: string; headers?: Record<string, string>; version: string }>, maxMs = 30_000): Probe {
  let stopped = false;
  let markedAt: number | undefined;
  const result = { answers: 0, wrong: 0, lastWrongMs: undefined as number | undefined, lastWrong: undefined as string | undefined };
  const deadline = Date.now() + maxMs;
  const loop = (async () => {
    for (let i = 0; !stopped && Date.now() < deadline; i++) {
      const r = requests[i % requests.length]!;
      const answer = await http(`${edge}${r.path}`, { headers: r.headers ?? {}, timeoutMs: 5000 }).catch((error: Error) => ({ status: 0, text: error.message, json: () => ({}) }));
      result.answers++;
      const got = answer.status === 200 ? (answer.json() as { version?: string }).version : undefined;
      if (got !== r.version && markedAt !== undefined) {
        result.wrong++;
        result.lastWrongMs = Date.now() - markedAt;
        result.lastWrong = `${r.path} ${JSON.stringify(r.headers ?? {})} → ${answer.status} ${answer.text.slice(0, 160)}`;
      }
      await sleep(5);
    }
  })();
  return {
    mark: () => (markedAt = Date.now()),
    async stop() {
      stopped = true;
      await loop;
      return result;
    },
  };
}
