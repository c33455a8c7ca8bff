import type { StatusBody } from '../protocol/status-body.js';
import type { Context } from './context.js';
import { failoverMessages, type RouterFailover } from './router-failover.js';
import { statusProblems, type StatusProblem } from './status-problems.js';

export interface StatusShown {
  body: StatusBody;
  routerUp: boolean;
  /** The router that answered (the first listed when none did). */
  url: string;
  watch: boolean;
  /** Routers asked first that failed (several routers only). */
  failovers?: RouterFailover[];
}

/** The services `--service` asks for (all without it). */
export function selectServices(body: StatusBody, service: string | undefined): StatusBody {
  return service === undefined ? body : { ...body, services: Object.fromEntries(Object.entries(body.services).filter(([n]) => n === service)) };
}

/** What needs an operator in a snapshot (orphans only when the caller looked for them). */
export function problemsOf(filtered: StatusBody, shown: StatusShown, orphans: Array<{ host: string; id: string; lost?: boolean }> = []): StatusProblem[] {
  return statusProblems(filtered, { routerUp: shown.routerUp, routerUrl: shown.url, orphans });
}

/** The `router` field of the JSON status: failovers only when a router was failed over. */
export function routerField(shown: StatusShown): { url: string; up: boolean; failovers?: RouterFailover[] } {
  return { url: shown.url, up: shown.routerUp, ...(shown.failovers !== undefined && shown.failovers.length > 0 ? { failovers: shown.failovers } : {}) };
}

/** The one JSON document `status --json` prints. */
export function statusDocument(service: string | undefined, shown: StatusShown, orphans?: Array<{ host: string; id: string; lost?: boolean }>): string {
  const filtered = selectServices(shown.body, service);
  return `${JSON.stringify({ ...filtered, router: routerField(shown), problems: problemsOf(filtered, shown, orphans) }, null, shown.watch ? 0 : 2)}\n`;
}

/**
 * Prints one status snapshot: one JSON document under --json, else the
 * table. Shared by the status command and the CLI's fast path, so both
 * print exactly the same thing. The table's code (semver, chalk's styles)
 * loads only when a person asks for the table.
 */
/** The warning every status without the router prints on stderr. */
export function warnRouterDown(ctx: Context, shown: StatusShown): void {
  for (const message of failoverMessages(shown.failovers ?? [])) ctx.out.warn(message);
  if (!shown.routerUp) ctx.out.warn(`the router is not answering at ${shown.url}: showing the policy and PM2 only (no heartbeats); start it with \`switchyard router start\``);
}

export async function printStatus(ctx: Context, shown: StatusShown): Promise<void> {
  warnRouterDown(ctx, shown);
  if (ctx.out.json) {
    process.stdout.write(statusDocument(ctx.options.service, shown));
    return;
  }
  const filtered = selectServices(shown.body, ctx.options.service);
  const { renderStatus } = await import('./status-view.js');
  const text = renderStatus(filtered, { routerUp: shown.routerUp, showRetired: ctx.options.verbose === true });
  if (shown.watch && process.stdout.isTTY) process.stdout.write('\u001b[H\u001b[2J');
  ctx.out.print(shown.watch && !process.stdout.isTTY ? `--- ${new Date().toISOString()}\n${text}` : text);
  for (const p of problemsOf(filtered, shown).filter((q) => q.kind !== 'router_down')) ctx.out.warn(p.message);
}
