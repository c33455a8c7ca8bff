import { z } from 'zod';
import { SERVICE_NAME, parseProcessId } from './names.js';
import { isValidVersion, printable } from './version.js';

/**
 * The heartbeat body a process posts (DESIGN.md):
 * `{service, version, process, seq, terminals: {"<terminal version>": count}, metrics?: {requests, errors}}`.
 * `metrics` are the process's own request counters since its last beat,
 * for judging a progressive rollout where the router sees no traffic
 * (redirect mode).
 *
 * Unknown extra keys are stripped, not refused: processes run heartbeat SDKs
 * of different ages side by side during a rollout, and a newer SDK adding a
 * field must not make an older router drop its heartbeats (and so see its
 * terminals as gone). Everything the router uses is checked strictly.
 */

export const MAX_TERMINAL_VERSIONS = 1000;
/** Far above any real process; keeps per-service sums exact integers. */
export const MAX_TERMINAL_COUNT = 1_000_000_000;
const MAX_PROCESS_ID_LENGTH = 400;

const version = z.string().refine(isValidVersion, { message: 'expected a semver version like 1.4.2' });

/** Far above what one process serves in a beat; keeps per-version sums exact integers. */
export const MAX_BEAT_REQUESTS = 1_000_000_000;
const beatCount = z.number().int('expected a whole number').min(0, 'expected a count of 0 or more').max(MAX_BEAT_REQUESTS, `expected a count of at most ${MAX_BEAT_REQUESTS}`);

export const beatMetricsSchema = z
  .object({ requests: beatCount, errors: beatCount })
  .refine((m) => m.errors <= m.requests, { message: 'expected errors to be at most requests (errors are requests that failed)', path: ['errors'] });

export const heartbeatSchema = z
  .object({
    service: z.string().regex(SERVICE_NAME, 'expected a service name of letters, digits, "-" and "_"'),
    version,
    process: z
      .string()
      .max(MAX_PROCESS_ID_LENGTH, 'expected a process id like lobby@1.5.0#0')
      .refine((id) => parseProcessId(id) !== null, { message: 'expected a process id like lobby@1.5.0#0 (<service>@<version>#<index>)' }),
    seq: z.number().int('expected a whole number').min(0, 'expected a number of 0 or more'),
    terminals: z.record(
      z.string().refine(isValidVersion, { message: 'expected each key to be a terminal version in semver, like 1.4.2' }),
      z.number().int('expected a whole number of terminals').min(0, 'expected a count of 0 or more').max(MAX_TERMINAL_COUNT, `expected a count of at most ${MAX_TERMINAL_COUNT}`),
    ),
    metrics: beatMetricsSchema.optional(),
  })
  .superRefine((hb, ctx) => {
    // The id is what tallies are keyed by; it must agree with the fields beside it.
    const parsed = parseProcessId(hb.process);
    if (parsed === null) return;
    if (parsed.service !== hb.service) {
      ctx.addIssue({ code: 'custom', path: ['process'], message: `the id names service ${parsed.service} but the heartbeat says ${hb.service}` });
    }
    if (parsed.version !== hb.version) {
      ctx.addIssue({ code: 'custom', path: ['process'], message: `the id names version ${parsed.version} but the heartbeat says ${hb.version}` });
    }
  });

export type Heartbeat = z.output<typeof heartbeatSchema>;

export type HeartbeatParse = { ok: true; heartbeat: Heartbeat } | { ok: false; message: string };

/** Validates a parsed JSON body; never throws. The message names the bad field. */
export function parseHeartbeat(data: unknown): HeartbeatParse {
  const early = precheckTerminals(data);
  if (early !== null) return { ok: false, message: `Invalid heartbeat: field ${early}.` };
  const result = heartbeatSchema.safeParse(data);
  if (result.success) return { ok: true, heartbeat: result.data };
  const issues = result.error.issues;
  const shown = issues.slice(0, 3).map(describe).join('; ');
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more problems)` : '';
  return { ok: false, message: `Invalid heartbeat: ${shown}${more}.` };
}

/** What zod would check too late (after walking every key) or not at all. */
function precheckTerminals(data: unknown): string | null {
  if (typeof data !== 'object' || data === null || !Object.hasOwn(data, 'terminals')) return null;
  const terminals = (data as { terminals: unknown }).terminals;
  if (typeof terminals !== 'object' || terminals === null) return null;
  if (countKeysOver(terminals, MAX_TERMINAL_VERSIONS)) return `terminals lists more than ${MAX_TERMINAL_VERSIONS} terminal versions`;
  // zod drops a "__proto__" record key silently; refuse it like any other key that is not a version.
  if (Object.hasOwn(terminals, '__proto__')) return 'terminals["__proto__"]: expected each key to be a terminal version in semver, like 1.4.2';
  return null;
}

function countKeysOver(obj: object, max: number): boolean {
  let n = 0;
  for (const key in obj) {
    if (Object.hasOwn(obj, key) && ++n > max) return true;
  }
  return false;
}

function describe(issue: z.core.$ZodIssue): string {
  const field = issue.path.length === 0 ? 'the body' : `field ${fieldPath(issue.path)}`;
  // A bad record key carries the useful message one level down.
  const inner = issue.code === 'invalid_key' ? issue.issues[0]?.message : undefined;
  return `${field}: ${inner ?? issue.message}`;
}

/** `terminals["1.4.x"]`: version keys hold dots, so dotted paths would be ambiguous. */
function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(printable(String(part)))}]`;
  }
  return out;
}
