import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { ChangedBy } from '../core/rollout-schema.js';

export type { ChangedBy } from '../core/rollout-schema.js';

/**
 * What switchyard posts to the `notify` webhooks: one JSON body per change
 * (a rollout's transitions, deploy, promote, rollback, retire), signed with
 * the hook's own secret so a receiver can tell it came from switchyard:
 *
 *   x-switchyard-signature: sha256=<lower-hex HMAC-SHA256(secret, raw body)>
 *
 * Delivery is at least once: a receiver that must act once dedupes by `id`.
 */

export const EVENT_TYPES = [
  'rollout.started', 'rollout.step', 'rollout.paused', 'rollout.resumed', 'rollout.aborted', 'rollout.completed',
  'deploy', 'promote', 'rollback', 'retire',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface SwitchyardEvent {
  /** Unique per event, the same on every retry of it. */
  id: string;
  type: EventType;
  service: string;
  /** The version the change is about (the canary, the new target, the retired one). */
  version: string | null;
  /** The version it replaces (the target before), when there is one. */
  from: string | null;
  /** The rollout step (1-based) and its canary weight, for rollout events. */
  step: number | null;
  canary: number | null;
  /** The policy generation that recorded the change. */
  generation: number | null;
  reason: string | null;
  /** The figures the change was judged on (a verdict's), when it was judged. */
  metrics: Record<string, unknown> | null;
  /** ISO time of the change. */
  at: string;
  by: ChangedBy | null;
}

export type EventFields = Pick<SwitchyardEvent, 'type' | 'service'> & Partial<Omit<SwitchyardEvent, 'id' | 'type' | 'service' | 'at'>>;

export function makeEvent(fields: EventFields, now: Date, id: string = randomUUID()): SwitchyardEvent {
  return {
    id, type: fields.type, service: fields.service, version: fields.version ?? null, from: fields.from ?? null,
    step: fields.step ?? null, canary: fields.canary ?? null, generation: fields.generation ?? null,
    reason: fields.reason ?? null, metrics: fields.metrics ?? null, at: now.toISOString(), by: fields.by ?? null,
  };
}

export const SIGNATURE_HEADER = 'x-switchyard-signature';

/** The signature header's value for a body. */
export function webhookSignature(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** For receivers: whether `header` signs `body` with `secret` (compared in constant time). */
export function verifyWebhookSignature(secret: string, body: string | Buffer, header: string | undefined): boolean {
  if (header === undefined) return false;
  const expected = Buffer.from(webhookSignature(secret, body));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

type Env = Readonly<Record<string, string | undefined>>;

/** CI systems by the variable that marks them, and where each keeps the actor, the run, the repository and a link. */
const CI_SYSTEMS: { system: string; marker: string; actor: string; run: string; repository: string; url: (env: Env) => string | undefined }[] = [
  {
    system: 'github-actions', marker: 'GITHUB_ACTIONS', actor: 'GITHUB_ACTOR', run: 'GITHUB_RUN_ID', repository: 'GITHUB_REPOSITORY',
    url: (env) => (env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID ? `${env.GITHUB_SERVER_URL || 'https://github.com'}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : undefined),
  },
  { system: 'gitlab-ci', marker: 'GITLAB_CI', actor: 'GITLAB_USER_LOGIN', run: 'CI_JOB_ID', repository: 'CI_PROJECT_PATH', url: (env) => env.CI_JOB_URL },
  { system: 'circleci', marker: 'CIRCLECI', actor: 'CIRCLE_USERNAME', run: 'CIRCLE_BUILD_NUM', repository: 'CIRCLE_PROJECT_REPONAME', url: (env) => env.CIRCLE_BUILD_URL },
  { system: 'buildkite', marker: 'BUILDKITE', actor: 'BUILDKITE_BUILD_CREATOR', run: 'BUILDKITE_BUILD_NUMBER', repository: 'BUILDKITE_PIPELINE_SLUG', url: (env) => env.BUILDKITE_BUILD_URL },
  { system: 'jenkins', marker: 'JENKINS_URL', actor: 'BUILD_USER_ID', run: 'BUILD_NUMBER', repository: 'JOB_NAME', url: (env) => env.BUILD_URL },
];

const isSet = (value: string | undefined): boolean => value !== undefined && value !== '' && value.toLowerCase() !== 'false' && value !== '0';
const orNull = (value: string | undefined): string | null => (value === undefined || value === '' ? null : value);

/**
 * Who started a change, from the environment of the command that made it:
 * the CI system's own variables where it runs in one (any other CI, marked
 * by CI=true, gives what the user and host give), else the user and host.
 * Pure: the caller passes the environment and its own user and host names.
 */
export function changedBy(env: Env, self: { user?: string | undefined; host?: string | undefined }): ChangedBy {
  const user = orNull(self.user ?? env.USER ?? env.LOGNAME ?? env.USERNAME);
  for (const ci of CI_SYSTEMS) {
    if (!isSet(env[ci.marker])) continue;
    return { kind: 'ci', system: ci.system, actor: orNull(env[ci.actor]) ?? user, run: orNull(env[ci.run]), repository: orNull(env[ci.repository]), url: orNull(ci.url(env)) };
  }
  if (isSet(env.CI)) return { kind: 'ci', system: 'ci', actor: user, run: null, repository: null, url: null };
  return { kind: 'user', user, host: orNull(self.host) };
}
