import { z } from 'zod';
import { parseDuration } from '../core/duration.js';

/**
 * Field schemas shared by the config schema. Each error message is the
 * "expected" half of a problem line ("found X, expected <message>"), so it
 * names the accepted form with an example a person can copy.
 */

/** A strict object: unknown keys (typos) are errors; the message for a non-object says what the mapping holds. */
export function mapping<T extends z.core.$ZodLooseShape>(shape: T, what: string) {
  return z.strictObject(shape, { error: (iss) => (iss.code === 'invalid_type' ? what : undefined) });
}

/** `key:` with nothing under it is null in YAML; a person means "the defaults". */
export function section<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => (value === null ? undefined : value), schema);
}

/** setTimeout fires at once for delays above 2^31-1 ms (~24.8 days), so longer durations are refused. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ListenAddress {
  host: string;
  port: number;
}

export interface PortRange {
  from: number;
  to: number;
}

const DURATION_FORM = 'a duration like 500ms, 5s, 30m or 1h (or a number of milliseconds)';

/** A duration string or a number of milliseconds, to milliseconds; above zero and timer-safe. */
export const durationMs = z.unknown().transform((input, ctx) => {
  let ms: number | undefined;
  if (typeof input === 'string' || typeof input === 'number') {
    try {
      ms = parseDuration(input);
    } catch {
      ms = undefined;
    }
  }
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: DURATION_FORM });
    return z.NEVER;
  }
  if (ms <= 0 || ms > MAX_TIMER_MS) {
    ctx.addIssue({ code: 'custom', message: `${DURATION_FORM}, above 0 and at most 596h` });
    return z.NEVER;
  }
  return ms;
});

/** A whole number in [min, max], with the bounds in the message. */
export function wholeNumber(min: number, max?: number) {
  const message = max === undefined ? `a whole number of ${min} or more` : `a whole number from ${min} to ${max}`;
  const base = z.number({ error: message }).int({ error: message }).min(min, { error: message });
  return max === undefined ? base : base.max(max, { error: message });
}

const LISTEN_FORM = '"host:port" like 127.0.0.1:7400, 0.0.0.0:7400 for every interface, or "[::1]:7400" for IPv6 (quoted in YAML), port 1-65535';
// IPv6 must be bracketed: a bare "::1:7400" cannot be told apart from an address.
const LISTEN = /^(?:\[([0-9A-Fa-f:.]{2,45})\]|([A-Za-z0-9][A-Za-z0-9.-]{0,252})):(\d{1,5})$/;

/** The router's listen address, "host:port", to {host, port}. */
export const listenAddress = z.unknown().transform((input, ctx): ListenAddress => {
  const match = typeof input === 'string' ? LISTEN.exec(input.trim()) : null;
  const port = match === null ? 0 : Number(match[3]);
  if (match === null || port < 1 || port > 65535) {
    ctx.addIssue({ code: 'custom', message: LISTEN_FORM });
    return z.NEVER;
  }
  return { host: (match[1] ?? match[2])!, port };
});

const PORTS_FORM = 'a port range like 7500-7599, a single port like 7500, or {from: 7500, to: 7599}, ports 1-65535';

function toRange(from: unknown, to: unknown): PortRange | string {
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
  if (!ok(from) || !ok(to)) return PORTS_FORM;
  if (from > to) return `${PORTS_FORM}, the lower port first`;
  return { from, to };
}

function parsePorts(input: unknown): PortRange | string {
  if (typeof input === 'number') return toRange(input, input);
  if (typeof input === 'string') {
    const match = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(input);
    if (match === null) return PORTS_FORM;
    return toRange(Number(match[1]), Number(match[2] ?? match[1]));
  }
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    const keys = Object.keys(input).sort().join(',');
    if (keys !== 'from,to') return `${PORTS_FORM} (an object needs exactly the keys from and to)`;
    const { from, to } = input as { from: unknown; to: unknown };
    return toRange(from, to);
  }
  return PORTS_FORM;
}

/** A service's port range in any accepted form, to {from, to}. */
export const portRange = z.unknown().transform((input, ctx): PortRange => {
  const parsed = parsePorts(input);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: parsed });
    return z.NEVER;
  }
  return parsed;
});

/** HTTP header names (RFC 9110 token), lower-cased because Node lower-cases incoming header names. */
export const headerName = z
  .string({ error: 'an HTTP header name like x-switchyard-version' })
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/, { error: 'an HTTP header name like x-switchyard-version (letters, digits, "-")' })
  .transform((s) => s.toLowerCase());

/** A string with no control characters (they would corrupt PM2 names, logs and command lines). */
export function plainString(what: string, max = 4096) {
  return z
    .string({ error: what })
    .min(1, { error: what })
    .max(max, { error: `${what}, at most ${max} characters` })
    .regex(/^[^\u0000-\u001f\u007f]*$/, { error: `${what}, without control characters` });
}

/** A script or cwd path: only {version} is substituted, so any other {placeholder} is a typo. */
export function versionTemplate(what: string) {
  const message = `${what}, where the only placeholder is {version}`;
  return plainString(what).refine((s) => [...s.matchAll(/\{([^}]*)\}/g)].every((m) => m[1] === 'version'), { error: message });
}

/**
 * Values that may end up on a remote command line: ssh hands its arguments
 * to the remote shell as one string, so only characters that need no quoting
 * are allowed, and nothing may start with "-" (it would read as an option).
 */
export const SAFE_REMOTE_PATH = /^(?!-)[A-Za-z0-9_.\/~+@%,:=-]{1,1024}$/;

export function remotePath(what: string) {
  return z
    .string({ error: what })
    .regex(SAFE_REMOTE_PATH, { error: `${what}: letters, digits and _ . / ~ + @ % , : = - only, not starting with "-"` });
}

/** "user@host" or "host" (an ssh config alias works too); no spaces or shell characters, never an option. */
export const SSH_TARGET = /^(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,63}@)?[A-Za-z0-9_][A-Za-z0-9._:-]{0,252}$/;

/** ssh -o options, "Key=Value". The value may not hold spaces or shell characters. */
export const SSH_OPTION = /^([A-Za-z][A-Za-z0-9]{0,63})=[A-Za-z0-9_.\/~+@%,:=-]{1,1024}$/;

/**
 * The ssh -o options a config may set: those that choose the identity, the
 * port, how host keys are checked, and timeouts and keep-alives. Anything
 * else (ProxyCommand, LocalCommand, PKCS11Provider, SecurityKeyProvider,
 * ProxyJump, ForwardAgent, ...) can run code or reach other machines, so it
 * belongs in ~/.ssh/config, where it is visible as what it is. The reasons
 * for each entry are in docs/security.md.
 */
export const SSH_OPTIONS_ALLOWED = [
  'IdentityFile', 'IdentitiesOnly', 'CertificateFile',
  'Port',
  'StrictHostKeyChecking', 'UserKnownHostsFile', 'GlobalKnownHostsFile', 'HostKeyAlias', 'HostKeyAlgorithms', 'CheckHostIP',
  'ConnectTimeout', 'ConnectionAttempts', 'ServerAliveInterval', 'ServerAliveCountMax', 'TCPKeepAlive',
] as const;

const ALLOWED_LOWER = new Set(SSH_OPTIONS_ALLOWED.map((name) => name.toLowerCase()));

/** The key of a "Key=Value" option when ssh would not accept it from a config (ssh's keys are case-insensitive). */
export function sshOptionRefused(option: string): string | undefined {
  const key = option.slice(0, option.indexOf('='));
  return ALLOWED_LOWER.has(key.toLowerCase()) ? undefined : key;
}

const SSH_OPTION_FORM = 'an ssh option as "Key=Value", like StrictHostKeyChecking=accept-new';

export const sshOption = z
  .string({ error: SSH_OPTION_FORM })
  .regex(SSH_OPTION, { error: `${SSH_OPTION_FORM} (no spaces or shell characters)` })
  .superRefine((option, ctx) => {
    const key = sshOptionRefused(option);
    if (key === undefined) return;
    ctx.addIssue({
      code: 'custom',
      message: `one of the ssh options that choose identity, port, host keys, timeouts and keep-alives (${SSH_OPTIONS_ALLOWED.join(', ')}); `
        + `${key} is not one of them: put it in ~/.ssh/config under a Host entry for this host, where it is visible as such`,
    });
  });

/** Environment variable names a process may be given. */
export const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** PORT and SWITCHYARD_* are set by switchyard for every process; a config must not shadow them. */
export function isReservedEnvKey(key: string): boolean {
  const upper = key.toUpperCase();
  return upper === 'PORT' || upper.startsWith('SWITCHYARD_');
}

const ROUTER_URL_FORM = 'an http URL processes on every host can reach, like http://router.internal:7400, or several routers as a list or comma-separated, like http://r1.internal:7400,http://r2.internal:7400';
const ROUTER_URL = /^https?:\/\/[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?\/?$/;

/**
 * router.url: one router URL, several comma-separated in one string, or a
 * YAML list of them; to the list in the order given, without trailing "/".
 */
export const routerUrls = z.unknown().transform((input, ctx): string[] => {
  const entries = typeof input === 'string' ? input.split(',').map((e) => e.trim())
    : Array.isArray(input) ? input.map((e: unknown) => (typeof e === 'string' ? e.trim() : e)) : undefined;
  if (entries === undefined || entries.length === 0) {
    ctx.addIssue({ code: 'custom', message: ROUTER_URL_FORM });
    return z.NEVER;
  }
  const bad = entries.find((e) => typeof e !== 'string' || !ROUTER_URL.test(e));
  if (bad !== undefined) {
    ctx.addIssue({ code: 'custom', message: `${ROUTER_URL_FORM} (${bad === '' ? 'an empty entry' : JSON.stringify(bad)} is not one)` });
    return z.NEVER;
  }
  const urls = (entries as string[]).map((e) => e.replace(/\/+$/, ''));
  const twice = urls.find((u, i) => urls.indexOf(u) !== i);
  if (twice !== undefined) {
    ctx.addIssue({ code: 'custom', message: `${ROUTER_URL_FORM}, each router once (${twice} is listed twice)` });
    return z.NEVER;
  }
  return urls;
});
