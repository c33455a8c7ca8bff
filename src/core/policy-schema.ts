import { z } from 'zod';
import { isValidVersion, MATCH_RULES } from './version.js';
import { ADDRESS, HOST_NAME, SERVICE_NAME, parseProcessId } from './names.js';
import { rolloutSchema } from './rollout-schema.js';

/**
 * The routing policy, exactly as DESIGN.md shows `policy.json`. A
 * hand-written file of this shape is valid input; optional fields may be
 * left out and get their defaults here.
 */
export const POLICY_SCHEMA_VERSION = 1;

/**
 * starting → active → draining → stopping → retired, or starting → failed.
 * A draining process may become active again (rollback). `starting` and
 * `stopping` are claims: the committed write that says a process is to be
 * started or stopped comes before the side effect, and names its owner.
 */
export const PROCESS_STATES = ['starting', 'active', 'draining', 'stopping', 'retired', 'failed'] as const;
/** Why a process was stopped: drained to zero, its drain deadline, `drain --now`, lost from PM2, or a start that never became ready. */
export const STOP_REASONS = ['drained', 'deadline', 'now', 'lost', 'abandoned'] as const;
export type ProcessState = (typeof PROCESS_STATES)[number];

const version = z.string().refine(isValidVersion, { message: 'expected a semver version like 1.4.2' });
const isoTime = z.iso.datetime({ offset: true, message: 'expected an ISO 8601 time like 2026-11-25T10:00:00.000Z' });

export const processSchema = z
  .object({
    id: z.string().min(1),
    version,
    host: z.string().regex(HOST_NAME, 'expected a host name of letters, digits, ".", "-", "_"').default('local'),
    address: z.string().regex(ADDRESS, 'expected a host name or IP address'),
    port: z.number().int().min(1).max(65535),
    state: z.enum(PROCESS_STATES),
    since: isoTime.optional(),
    drainDeadline: isoTime.optional(),
    /** Who holds the claim of a `starting` or `stopping` process, and until when it is theirs. */
    owner: z
      .object({
        id: z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'expected an owner id of letters, digits and . _ : @ -'),
        pid: z.number().int().min(1).optional(),
        host: z.string().max(255).optional(),
        until: isoTime.optional(),
        /**
         * How long the claim lasts without a renewal, measured by whoever
         * judges it on its own clock from when it first saw this claim:
         * no two machines' clocks are ever compared.
         */
        leaseMs: z.number().int().min(0).optional(),
      })
      .optional(),
    /** Why it is stopping or was retired. */
    reason: z.enum(STOP_REASONS).optional(),
    /** Terminals it still held when it was stopped (cut off). */
    terminalsCutOff: z.number().int().min(0).optional(),
  })
  .superRefine((p, ctx) => {
    const parsed = parseProcessId(p.id);
    if (parsed === null) {
      ctx.addIssue({ code: 'custom', path: ['id'], message: 'expected <service>@<version>#<index>, like lobby@1.5.0#0' });
    } else if (parsed.version !== p.version) {
      ctx.addIssue({ code: 'custom', path: ['id'], message: `the id names version ${parsed.version} but the process says ${p.version}` });
    }
  });

export const canarySchema = z.object({
  version,
  weight: z.number().min(0).max(100),
});

export const serviceSchema = z
  .object({
    target: version.nullable().default(null),
    canary: canarySchema.nullable().default(null),
    match: z.enum(MATCH_RULES as unknown as ['exact', 'patch', 'minor']).default('exact'),
    login: z.enum(['force', 'allow']).default('force'),
    processes: z.array(processSchema).default([]),
    /** The service's progressive rollout, running or ended (rollout-schema.ts); absent when it never had one. */
    rollout: rolloutSchema.optional(),
  })
  .superRefine((s, ctx) => {
    const seen = new Set<string>();
    s.processes.forEach((p, i) => {
      if (seen.has(p.id)) ctx.addIssue({ code: 'custom', path: ['processes', i, 'id'], message: `duplicate process id ${p.id}` });
      seen.add(p.id);
    });
  });

/**
 * Who made a revision and why, written with it: the operation, the person
 * or CI job behind it, an override's reason. `id` is unique per commit, so
 * a writer whose reply was lost can tell its own revision from another's.
 */
export const changeSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/),
  op: z.string().regex(/^[a-z][a-z0-9 ._()-]{0,63}$/),
  by: z.object({
    user: z.string().max(128).optional(),
    host: z.string().max(255).optional(),
    /** The CI system and its job, when a pipeline made the change. */
    ci: z.string().max(512).optional(),
  }).optional(),
  /** Why, for a change forced past the transition rules (`policy apply --force --reason`). */
  reason: z.string().max(1000).optional(),
  forced: z.boolean().optional(),
});

export const policySchema = z
  .object({
    schema: z.literal(POLICY_SCHEMA_VERSION),
    generation: z.number().int().min(0),
    updatedAt: isoTime.optional(),
    change: changeSchema.optional(),
    /**
     * An operator confirmed (`status --prune --yes`) that the store went
     * back: processes claimed by generations up to `through` that the head
     * does not name were looked at, and the controller may act again.
     */
    acknowledged: z.object({ through: z.number().int().min(0), at: isoTime }).optional(),
    services: z.record(z.string().regex(SERVICE_NAME, 'expected a service name of letters, digits, "-", "_"'), serviceSchema),
  })
  .superRefine((policy, ctx) => {
    for (const [name, service] of Object.entries(policy.services)) {
      service.processes.forEach((p, i) => {
        const parsed = parseProcessId(p.id);
        if (parsed !== null && parsed.service !== name) {
          ctx.addIssue({ code: 'custom', path: ['services', name, 'processes', i, 'id'], message: `the id names service ${parsed.service} but it is listed under ${name}` });
        }
      });
    }
  });

export type ProcessEntry = z.output<typeof processSchema>;
export type Canary = z.output<typeof canarySchema>;
export type Change = z.output<typeof changeSchema>;
export type ServicePolicy = z.output<typeof serviceSchema>;
export type Policy = z.output<typeof policySchema>;
/** What a hand-written file may leave out. */
export type PolicyInput = z.input<typeof policySchema>;

export interface PolicyProblem {
  /** Dotted path into the file, like `services.lobby.processes.0.port`. */
  path: string;
  message: string;
}

export type PolicyCheck = { ok: true; policy: Policy } | { ok: false; problems: PolicyProblem[] };

/** Validates parsed JSON; never throws. */
export function checkPolicy(data: unknown): PolicyCheck {
  const result = policySchema.safeParse(data);
  if (result.success) return { ok: true, policy: result.data };
  return {
    ok: false,
    problems: result.error.issues.map((issue) => ({
      path: issue.path.length === 0 ? '(top level)' : issue.path.map(String).join('.'),
      message: issue.message,
    })),
  };
}

/** A policy with no services, generation 0: what `init` writes. */
export function emptyPolicy(now: Date): Policy {
  return { schema: POLICY_SCHEMA_VERSION, generation: 0, updatedAt: now.toISOString(), services: {} };
}
