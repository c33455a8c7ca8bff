import type { ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { startBackendServer, type BackendServer, type BackendServerOptions } from '../fixtures/backend-server.mjs';
import { captureStderr, lineReader, waitExit, type ChildTracker } from './child-processes.js';

/**
 * Real service processes for router tests: a node:http server plus a
 * WebSocket echo (the `ws` package) that says which service, version and
 * process answered. The server code is test/fixtures/backend-server.mjs,
 * plain JavaScript, so the same backend runs in-process (startBackend),
 * as a child process (spawnBackend), or under PM2 (point a service's
 * script at BACKEND_SCRIPT; it reads PORT and SWITCHYARD_* from its env).
 *
 *   const b = await startBackend({ version: '1.5.0' });
 *   // GET b.url/anything → 200 {service:'lobby', version:'1.5.0', process:'lobby@1.5.0#0', method, url, path, headers, bodyBytes, bodySha256, body}
 *   // query ?backend-delay=200 delays the answer; ?backend-status=503 sets its status
 *   // WebSocket text "hi" → {"service":"lobby","version":"1.5.0","process":…,"path":…,"echo":"hi"}; binary frames are echoed as is
 *   await b.close();
 */

export type { BackendServer, BackendServerOptions };

/** The script to run as a child or under PM2. */
export const BACKEND_SCRIPT = resolve(import.meta.dirname, '../fixtures/backend-server.mjs');

/** What every backend HTTP answer holds. */
export interface BackendAnswer {
  service: string;
  version: string;
  process: string;
  method: string;
  url: string;
  path: string;
  headers: Record<string, string | string[]>;
  bodyBytes: number;
  bodySha256: string;
  /** The body as text, only when it was at most 64 KiB. */
  body?: string;
}

/** What a WebSocket text message is answered with. */
export interface BackendEcho {
  service: string;
  version: string;
  process: string;
  path: string;
  echo: string;
}

const started = new Set<BackendServer>();

/** Starts a backend in this process, on a port the OS picks unless `port` is given. */
export async function startBackend(opts: BackendServerOptions): Promise<BackendServer> {
  const backend = await startBackendServer(opts);
  started.add(backend);
  const close = backend.close;
  return {
    ...backend,
    counters: backend.counters,
    close: async () => {
      started.delete(backend);
      await close();
    },
  };
}

/** Closes every backend startBackend made that is still open (for afterAll). */
export async function closeAllBackends(): Promise<void> {
  const open = [...started];
  started.clear();
  await Promise.all(open.map((b) => b.close()));
}

export interface SpawnedBackend {
  child: ChildProcess;
  port: number;
  url: string;
  stderr(): string;
  /** SIGTERM, and waits until it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts a backend as a child process (through the tracker, so killAll()
 * reaps it) on `opts.port` (or one the OS picks), and waits until it listens.
 */
export async function spawnBackend(tracker: ChildTracker, opts: BackendServerOptions & { env?: Record<string, string> }): Promise<SpawnedBackend> {
  const child = tracker.spawn(process.execPath, [BACKEND_SCRIPT], {
    env: {
      ...opts.env,
      PORT: String(opts.port ?? 0),
      HOST: opts.host ?? '127.0.0.1',
      SWITCHYARD_SERVICE: opts.service ?? 'lobby',
      SWITCHYARD_VERSION: opts.version,
      ...(opts.process !== undefined ? { SWITCHYARD_PROCESS: opts.process } : {}),
    },
  });
  const stderr = captureStderr(child);
  const line = await lineReader(child, stderr).next(10_000);
  const { listening } = JSON.parse(line) as { listening: number };
  return {
    child,
    port: listening,
    url: `http://${opts.host ?? '127.0.0.1'}:${listening}`,
    stderr,
    stop: async () => {
      const gone = waitExit(child);
      child.kill('SIGTERM');
      await gone;
    },
  };
}
