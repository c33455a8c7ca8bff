import { z } from 'zod';
import { checkSteps, describeStepProblems, INLINE_EXAMPLE, inlineInputs, type RolloutStep, type StepInput } from '../core/rollout-plan.js';
import type { AnalysisSettings } from '../core/rollout-verdict.js';
import { EVENT_TYPES, type EventType } from '../protocol/events.js';
import { CONFIG_DEFAULTS } from './defaults.js';
import { durationMs, ENV_KEY, mapping, plainString, section, wholeNumber } from './fields.js';

/**
 * The config of progressive rollouts: `services.<name>.rollout` (the plan
 * and how each interval is judged) and the top-level `notify` webhooks.
 * The shapes are plugged into schema.ts; normalise.ts calls the two
 * functions at the end to build what commands use.
 */

export interface PrometheusConfig {
  /** The Prometheus base URL; checks ask `<url>/api/v1/query`. */
  url: string;
  timeoutMs: number;
  /** Each query may hold {{service}} and {{version}}; a value above max fails the interval. */
  checks: { query: string; max: number }[];
}

export interface AnalysisConfig extends AnalysisSettings {
  prometheus: PrometheusConfig | undefined;
}

export interface RolloutConfig {
  /** The configured plan (100 added when the last step is below it); undefined: `deploy --steps` needs one inline. */
  steps: RolloutStep[] | undefined;
  analysis: AnalysisConfig;
}

export interface NotifyTarget {
  url: string;
  /** Where the signing secret is read when notifications start: an absolute file path, or an environment variable. */
  secret: { file: string } | { env: string };
  /** The event types posted to this URL; undefined: all of them. */
  events: EventType[] | undefined;
}

const A = CONFIG_DEFAULTS.analysis;
const STEP_KEYS = ['canary', 'pause'];
const STEPS_FORM = `a list of steps like [{canary: 10, pause: 2m}, {canary: 50, pause: 5m}, {canary: 100}], or the inline form ${INLINE_EXAMPLE}`;

/** rollout.steps in either form, checked step by step (core/rollout-plan.ts); problems land on the step's own key. */
const rolloutSteps = z.unknown().transform((input, ctx): RolloutStep[] => {
  if (typeof input === 'string') {
    const checked = checkSteps(inlineInputs(input));
    if (checked.ok) return checked.steps;
    ctx.addIssue({ code: 'custom', message: `${describeStepProblems('the plan', checked.problems)} (${STEPS_FORM})` });
    return z.NEVER;
  }
  if (!Array.isArray(input)) {
    ctx.addIssue({ code: 'custom', message: STEPS_FORM });
    return z.NEVER;
  }
  const steps: StepInput[] = [];
  input.forEach((raw: unknown, i) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      ctx.addIssue({ code: 'custom', path: [i], message: 'a step like {canary: 10, pause: 2m}' });
      return;
    }
    const unknown = Object.keys(raw).filter((key) => !STEP_KEYS.includes(key));
    if (unknown.length > 0) ctx.addIssue({ code: 'unrecognized_keys', keys: unknown, path: [i], input: raw as Record<string, unknown> });
    const { canary, pause } = raw as { canary?: unknown; pause?: unknown };
    steps.push({ canary, ...(pause === undefined ? {} : { pause }), text: '' });
  });
  if (steps.length !== input.length) return z.NEVER;
  const checked = checkSteps(steps);
  if (checked.ok) return checked.steps;
  for (const p of checked.problems) ctx.addIssue({ code: 'custom', ...(p.index === 0 ? {} : { path: [p.index - 1] }), message: p.expected });
  return z.NEVER;
});

const ERROR_RATE_FORM = 'an error rate as a percent like 1% or a fraction like 0.01 (from 0 to 1)';

/** "1%" or 0.01 to the fraction 0.01. */
const errorRate = z.unknown().transform((input, ctx): number => {
  const percent = typeof input === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(input) : null;
  const value = percent !== null ? Number(percent[1]) / 100 : typeof input === 'number' ? input : Number.NaN;
  if (!(value >= 0 && value <= 1)) {
    ctx.addIssue({ code: 'custom', message: ERROR_RATE_FORM });
    return z.NEVER;
  }
  return value;
});

/** An http(s) URL; `what` says what it is for. */
function httpUrl(what: string) {
  return plainString(what, 2048).refine((s) => {
    try {
      const url = new URL(s);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
    } catch {
      return false;
    }
  }, { error: `${what} (http:// or https://)` });
}

const QUERY_FORM = 'a PromQL query, where the only placeholders are {{service}} and {{version}}';

export const prometheusCheckShape = {
  query: plainString(QUERY_FORM).refine((q) => [...q.matchAll(/\{\{([^}]*)\}\}/g)].every((m) => m[1] === 'service' || m[1] === 'version'), { error: QUERY_FORM }),
  max: z.number({ error: 'the highest value that passes, a number like 0.05' }).refine(Number.isFinite, { error: 'the highest value that passes, a finite number like 0.05' }),
};

export const prometheusShape = {
  url: httpUrl('the Prometheus base URL, like http://prometheus.internal:9090'),
  timeout: durationMs.prefault(A.prometheusTimeout),
  checks: z.array(mapping(prometheusCheckShape, 'a check like {query: "sum(rate(errors{version=\\"{{version}}\\"}[1m]))", max: 0.05}'), { error: 'a list of checks like [{query: ..., max: 0.05}]' })
    .min(1, { error: 'a list of at least one check like [{query: ..., max: 0.05}]' }),
};

export const analysisShape = {
  interval: durationMs.prefault(A.interval),
  failureLimit: wholeNumber(1, 1000).default(A.failureLimit),
  inconclusiveLimit: wholeNumber(1, 1000).default(A.inconclusiveLimit),
  minRequests: wholeNumber(1, 1_000_000_000).default(A.minRequests),
  maxErrorRate: errorRate.prefault(A.maxErrorRate),
  maxLatencyP99: durationMs.optional(),
  maxRestarts: wholeNumber(0, 1_000_000).default(A.maxRestarts),
  prometheus: section(mapping(prometheusShape, 'a mapping like {url: http://prometheus:9090, checks: [{query: ..., max: 0.05}]}').optional()),
};

export const rolloutShape = {
  steps: rolloutSteps.optional(),
  analysis: section(mapping(analysisShape, 'a mapping like {interval: 10s, failureLimit: 2, minRequests: 50, maxErrorRate: 1%}').prefault({})),
};

export const rolloutSection = section(mapping(rolloutShape, 'a mapping like {steps: [{canary: 10, pause: 2m}, {canary: 100}], analysis: {maxErrorRate: 1%}}').prefault({}));

export const notifyShape = {
  url: httpUrl('the URL that receives the events, like https://hooks.example.com/switchyard'),
  secretFile: plainString('the file holding the signing secret, like /etc/switchyard/hook.secret').optional(),
  secretEnv: z.string({ error: 'an environment variable holding the signing secret, like SWITCHYARD_HOOK_SECRET' })
    .regex(ENV_KEY, { error: 'an environment variable name: letters, digits and "_", not starting with a digit' }).optional(),
  events: z.array(z.enum(EVENT_TYPES, { error: `one of ${EVENT_TYPES.join(', ')}` }), { error: `a list of event types, like [rollout.aborted, rollout.completed]` })
    .min(1, { error: 'a list of at least one event type (leave events out for all of them)' }).optional(),
};

const SECRET_EXPECTED = 'exactly one of secretFile (a file holding the secret) or secretEnv (an environment variable holding it)';

export const notifySection = section(z.array(
  mapping(notifyShape, 'a mapping like {url: https://hooks.example.com/switchyard, secretFile: /etc/switchyard/hook.secret}').superRefine((hook, ctx) => {
    if ((hook.secretFile === undefined) === (hook.secretEnv === undefined)) ctx.addIssue({ code: 'custom', path: [hook.secretFile === undefined ? 'secretFile' : 'secretEnv'], message: SECRET_EXPECTED });
  }),
  { error: 'a list of webhooks like [{url: https://hooks.example.com/switchyard, secretFile: /etc/switchyard/hook.secret}]' },
).default([]));

type RawRollout = z.output<typeof rolloutSection>;
type RawNotify = z.output<typeof notifySection>;

export function normaliseRollout(raw: RawRollout): RolloutConfig {
  const a = raw.analysis;
  const p = a.prometheus;
  return {
    steps: raw.steps,
    analysis: {
      intervalMs: a.interval, failureLimit: a.failureLimit, inconclusiveLimit: a.inconclusiveLimit, minRequests: a.minRequests,
      maxErrorRate: a.maxErrorRate, maxLatencyP99Ms: a.maxLatencyP99, maxRestarts: a.maxRestarts,
      prometheus: p === undefined ? undefined : { url: p.url.replace(/\/+$/, ''), timeoutMs: p.timeout, checks: p.checks.map((c) => ({ query: c.query, max: c.max })) },
    },
  };
}

/** `resolvePath` makes a secret file absolute against the config's folder. */
export function normaliseNotify(raw: RawNotify, resolvePath: (path: string) => string): NotifyTarget[] {
  return raw.map((hook) => ({
    url: hook.url,
    secret: hook.secretFile !== undefined ? { file: resolvePath(hook.secretFile) } : { env: hook.secretEnv! },
    events: hook.events === undefined ? undefined : [...new Set(hook.events)],
  }));
}

/** The keys an object of the rollout config may hold, for "did you mean" hints; path starts at `rollout`. */
export function rolloutKeysAt(path: readonly PropertyKey[]): string[] {
  if (path.length === 1) return Object.keys(rolloutShape);
  if (path[1] === 'steps' && path.length === 3) return STEP_KEYS;
  if (path[1] === 'analysis' && path.length === 2) return Object.keys(analysisShape);
  if (path[1] === 'analysis' && path[2] === 'prometheus' && path.length === 3) return Object.keys(prometheusShape);
  if (path[1] === 'analysis' && path[2] === 'prometheus' && path[3] === 'checks' && path.length === 5) return Object.keys(prometheusCheckShape);
  return [];
}
