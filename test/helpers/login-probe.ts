import { inCanary } from '../../src/core/canary.js';

/**
 * Logins sent all along a rollout by terminals in the canary's share
 * (their ids hash below the weight), each with the version they run:
 * what the router told each one, and when. After an abort none of them
 * may be told to change to the canary, nor be connected to it.
 */

export interface ProbeAnswer {
  sentAt: number;
  terminal: string;
  /** The version the terminal was told to run: where it connects, or what it must change to. */
  told: string;
  action: 'connect' | 'upgrade' | 'error';
}

export interface LoginProbe {
  answers: ProbeAnswer[];
  stop(): Promise<void>;
}

/** `count` terminal ids inside a canary of `weight` percent. */
export function canaryIds(weight: number, count: number, prefix = 'probe'): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < count && i < 100_000; i += 1) if (inCanary(`${prefix}-${i}`, weight)) ids.push(`${prefix}-${i}`);
  return ids;
}

/** Logs in one of `ids` (running `version`) every `everyMs`, until stopped or `maxMs` passed. */
export function startLoginProbe(routerUrl: string, service: string, version: string, ids: readonly string[], everyMs = 50, maxMs = 120_000): LoginProbe {
  const answers: ProbeAnswer[] = [];
  let stopped = false;
  const started = Date.now();
  const run = (async () => {
    for (let i = 0; !stopped && Date.now() - started < maxMs; i += 1) {
      const terminal = ids[i % ids.length]!;
      const sentAt = Date.now();
      try {
        const response = await fetch(`${routerUrl}/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ service, version, terminal }), signal: AbortSignal.timeout(3000) });
        const body = (await response.json()) as { action?: string; version?: string; targetVersion?: string };
        if (body.action === 'connect') answers.push({ sentAt, terminal, told: body.version!, action: 'connect' });
        else if (body.action === 'upgrade') answers.push({ sentAt, terminal, told: body.targetVersion!, action: 'upgrade' });
        else answers.push({ sentAt, terminal, told: '', action: 'error' });
      } catch {
        answers.push({ sentAt, terminal, told: '', action: 'error' });
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    answers,
    async stop() {
      stopped = true;
      await run;
    },
  };
}
