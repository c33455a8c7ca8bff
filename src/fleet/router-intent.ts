import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../store/atomic-write.js';

/**
 * Whether this host's router is meant to run: `router start` (of the
 * config's own router) writes `<state folder>/router.json`; `router stop`
 * and `down` remove it. PM2's daemon forgets every process when it dies,
 * so after a crash this file is what tells a command that a router was
 * running here and is to be brought back, while a project that never
 * started one (or stopped it on purpose) is left as it is.
 */

export interface RouterIntent {
  /** The config file the router was started with. */
  configFile: string;
  startedAt: string;
}

export function routerIntentPath(stateDir: string): string {
  return join(stateDir, 'router.json');
}

export async function recordRouterIntent(stateDir: string, configFile: string, now: Date): Promise<void> {
  const intent: RouterIntent = { configFile, startedAt: now.toISOString() };
  await writeFileAtomic(routerIntentPath(stateDir), `${JSON.stringify(intent, null, 2)}\n`);
}

export async function clearRouterIntent(stateDir: string): Promise<void> {
  await rm(routerIntentPath(stateDir), { force: true });
}

export function routerIntended(stateDir: string): boolean {
  return existsSync(routerIntentPath(stateDir));
}
