import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, type Registry } from 'prom-client';
import { sendError } from './http-util.js';

/** `router.proxy` (docs/configuration.md): how the built-in proxy shares a process. */
export interface ProxyLimits {
  /** HTTP requests carried to one process at once (one upstream connection each); the rest wait. */
  connectionsPerProcess: number;
  /** How long a request may wait for one of them; then 503 with Retry-After. */
  queueTimeoutMs: number;
}

/** The config's defaults (src/config/defaults.ts), for routers built without a config. */
export const DEFAULT_PROXY_LIMITS: ProxyLimits = { connectionsPerProcess: 256, queueTimeoutMs: 5000 };

interface Waiter {
  grant(): void;
}

/** One process's requests in flight, and the ones waiting in arrival order (a Set: any may leave early). */
interface Lane {
  busy: number;
  waiting: Set<Waiter>;
}

/**
 * Bounds the HTTP requests the built-in proxy carries to each process, and
 * bounds how long one waits for room. Without the wait bound a process whose
 * connections are all held by long answers (server-sent events, long polls)
 * would keep every other request waiting for as long as those streams live;
 * with it, a request that cannot get in answers 503 with Retry-After, and
 * the limit itself is large enough by default that streams and ordinary
 * requests share a process. WebSocket sessions are not counted here (they
 * are bounded by router.maxConnections).
 */
export class ProxyGate {
  private readonly lanes = new Map<string, Lane>();
  private readonly timeouts: Counter;

  constructor(private readonly limits: ProxyLimits, registry: Registry) {
    const registers = [registry];
    this.timeouts = new Counter({ name: 'switchyard_proxy_queue_timeouts_total', help: 'Proxied requests answered 503 because their process carried router.proxy.connectionsPerProcess requests for all of router.proxy.queueTimeout', registers });
    const gate = this;
    new Gauge({
      name: 'switchyard_proxy_requests_waiting',
      help: 'Proxied requests waiting for room at their process (router.proxy.connectionsPerProcess)',
      registers,
      collect() {
        let n = 0;
        for (const lane of gate.lanes.values()) n += lane.waiting.size;
        this.set(n);
      },
    });
  }

  /**
   * Waits for room at `origin`: resolves with the function that gives the
   * room back, or undefined when the request was answered here instead
   * (503 past the queue timeout) or its client left while it waited.
   */
  enter(origin: string, req: IncomingMessage, res: ServerResponse): Promise<(() => void) | undefined> {
    let lane = this.lanes.get(origin);
    if (lane === undefined) {
      lane = { busy: 0, waiting: new Set() };
      this.lanes.set(origin, lane);
    }
    const held = lane;
    const release = this.releaser(origin, held);
    if (held.busy < this.limits.connectionsPerProcess) {
      held.busy += 1;
      return Promise.resolve(release);
    }
    return new Promise((resolve) => {
      const leave = (): void => {
        clearTimeout(timer);
        res.off('close', gone);
        held.waiting.delete(waiter);
      };
      const waiter: Waiter = {
        grant: () => {
          leave();
          held.busy += 1;
          resolve(release);
        },
      };
      const gone = (): void => {
        leave();
        this.forget(origin, held);
        resolve(undefined);
      };
      const timer = setTimeout(() => {
        leave();
        this.forget(origin, held);
        this.timeouts.inc();
        req.resume();
        const seconds = Math.max(1, Math.round(this.limits.queueTimeoutMs / 1000));
        res.setHeader('retry-after', String(seconds));
        sendError(res, 503, 'process_busy', `The process at ${origin} is carrying ${this.limits.connectionsPerProcess} requests through the router (router.proxy.connectionsPerProcess) and none ended within ${this.limits.queueTimeoutMs} ms (router.proxy.queueTimeout): try again in ${seconds} s, or raise those settings.`);
        resolve(undefined);
      }, this.limits.queueTimeoutMs);
      timer.unref();
      res.once('close', gone);
      held.waiting.add(waiter);
    });
  }

  /** Gives one place back, once, to the first request still waiting. */
  private releaser(origin: string, lane: Lane): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      lane.busy -= 1;
      const next = lane.waiting.values().next();
      if (!next.done) next.value.grant();
      else this.forget(origin, lane);
    };
  }

  /** Lanes are made on first use: an idle one is dropped so processes long gone leave nothing behind. */
  private forget(origin: string, lane: Lane): void {
    if (lane.busy === 0 && lane.waiting.size === 0 && this.lanes.get(origin) === lane) this.lanes.delete(origin);
  }
}
