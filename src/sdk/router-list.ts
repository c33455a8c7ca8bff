/**
 * The routers an SDK talks to, and which one it asks first. Shared by the
 * heartbeat and the client: a list is given as an array or as one
 * comma-separated string (what SWITCHYARD_ROUTER_URL holds with several
 * routers). The list is tried in order; after a failover the router that
 * last answered is asked first (sticky), and when it fails the rest follow
 * in list order. Every failover is counted here.
 */

export interface Failover {
  /** The router that failed (base URL, no trailing "/"). */
  url: string;
  /** Why: the connect error, the timeout or the 5xx answer. */
  reason: Error;
  /** The router asked next. */
  next: string;
}

/** A list as given (array, or comma-separated string) to base URLs without a trailing "/". */
export function parseRouterList(given: string | readonly string[]): string[] {
  const parts = typeof given === 'string' ? given.split(',') : given.flatMap((g) => g.split(','));
  return parts.map((p) => p.trim().replace(/\/+$/, '')).filter((p) => p !== '');
}

/** fetch's cause code (ECONNREFUSED, …), or the error's own name for a timeout. */
export function failureCode(error: unknown): string | undefined {
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  if (typeof code === 'string') return code;
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : undefined;
}

export class RouterList {
  readonly urls: readonly string[];
  /** Failovers made so far: each time a failed router's request went on to the next one. */
  failovers = 0;
  private preferred = 0;

  constructor(given: string | readonly string[]) {
    this.urls = parseRouterList(given);
    if (this.urls.length === 0) throw new Error('switchyard: no router URL given');
  }

  /** The order to ask in now: the router that last answered, then the others in list order. */
  order(): string[] {
    const first = this.urls[this.preferred]!;
    return [first, ...this.urls.filter((u) => u !== first)];
  }

  /** `url` answered: ask it first from now on. */
  answered(url: string): void {
    const index = this.urls.indexOf(url);
    if (index !== -1) this.preferred = index;
  }

  /** `url` failed and `next` is asked instead: counted, and told to `notify`. */
  failedOver(url: string, reason: Error, next: string, notify?: (event: Failover) => void): void {
    this.failovers += 1;
    notify?.({ url, reason, next });
  }
}
