import { timeoutError } from '../core/errors.js';
import { formatDuration } from '../core/duration.js';
import type { Store } from '../store/store.js';
import type { Progress } from './progress.js';

/** Versions still holding live (not retired, not failed) processes. */
function liveProcesses(policy: Awaited<ReturnType<Store['read']>>, service: string, version: string): number {
  const svc = Object.hasOwn(policy.services, service) ? policy.services[service] : undefined;
  return (svc?.processes ?? []).filter((p) => p.version === version && (p.state === 'active' || p.state === 'draining' || p.state === 'starting' || p.state === 'stopping')).length;
}

/**
 * Waits until every process of a version is retired (the router's drain
 * controller does the retiring). Exit 3 when the time is up.
 */
export async function waitRetired(opts: {
  store: Store;
  service: string;
  version: string;
  timeoutMs: number;
  progress: Progress;
  pollMs?: number;
}): Promise<{ waitedMs: number }> {
  const started = Date.now();
  let lastShown = -1;
  for (;;) {
    const live = liveProcesses(await opts.store.read(), opts.service, opts.version);
    if (live === 0) return { waitedMs: Date.now() - started };
    if (live !== lastShown) {
      opts.progress.step(`waiting for ${opts.service}@${opts.version} to drain and retire (${live} process${live === 1 ? '' : 'es'} left)`);
      lastShown = live;
    }
    if (Date.now() - started > opts.timeoutMs) {
      throw timeoutError('wait_timeout', `${opts.service}@${opts.version} still has ${live} process${live === 1 ? '' : 'es'} after ${formatDuration(opts.timeoutMs)}: see \`switchyard status\` for the terminals it holds, wait longer with --timeout, or stop it with \`switchyard drain ${opts.version} --now\`.`);
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
  }
}
