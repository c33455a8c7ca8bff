import type { Canary, Policy, ProcessEntry, ServicePolicy } from './policy-schema.js';
import { compareVersionsDesc, isValidVersion, type MatchRule } from './version.js';

/**
 * A lookup structure built once per policy object, so the router's hot path
 * never scans processes per request. The router swaps policies whole (one
 * object per generation), which is what makes caching by identity safe: a
 * policy object must not be mutated after it has been indexed.
 */

export interface VersionEntry {
  readonly version: string;
  /** State `active`: takes new logins and requests. */
  readonly active: readonly ProcessEntry[];
  /** States `active` and `draining`: keeps serving terminals it already has. */
  readonly serving: readonly ProcessEntry[];
  /** Where requests go: active processes while there are any, so drains finish sooner. */
  readonly requestPool: readonly ProcessEntry[];
}

export interface ServiceIndex {
  readonly name: string;
  readonly policy: ServicePolicy;
  readonly match: MatchRule;
  /** Only versions with at least one active or draining process. */
  readonly versions: ReadonlyMap<string, VersionEntry>;
  /** Versions served (active or draining), newest first. */
  readonly served: readonly string[];
  readonly canary: Canary | null;
  /** Per match key, versions with active processes, newest first. Empty under `exact`. */
  readonly activeByKey: ReadonlyMap<string, readonly VersionEntry[]>;
  /** Per match key, versions with active or draining processes, newest first. Empty under `exact`. */
  readonly servingByKey: ReadonlyMap<string, readonly VersionEntry[]>;
}

export interface PolicyIndex {
  readonly policy: Policy;
  /** A Map, so untrusted names like "__proto__" can never reach an object prototype. */
  readonly services: ReadonlyMap<string, ServiceIndex>;
  /** Service names, sorted, for error messages. */
  readonly names: readonly string[];
}

const cache = new WeakMap<Policy, PolicyIndex>();

export function indexPolicy(policy: Policy): PolicyIndex {
  const hit = cache.get(policy);
  if (hit !== undefined) return hit;
  const services = new Map<string, ServiceIndex>();
  for (const [name, service] of Object.entries(policy.services)) {
    services.set(name, indexService(name, service));
  }
  const index: PolicyIndex = { policy, services, names: [...services.keys()].sort() };
  cache.set(policy, index);
  return index;
}

/**
 * The part of a version two versions must share to match under a rule:
 * major.minor for `patch`, major for `minor`, plus the prerelease tag in both
 * (versionMatches in version.ts demands equal prerelease tags). Build metadata
 * never matters. Plain string work on a version already known to be strict
 * semver, which is cheaper than parsing it again on every request.
 */
export function matchKey(rule: MatchRule, version: string): string {
  if (rule === 'exact') return version;
  const plus = version.indexOf('+');
  const noBuild = plus === -1 ? version : version.slice(0, plus);
  // The core is digits and dots only, so the first "-" starts the prerelease.
  const dash = noBuild.indexOf('-');
  const core = dash === -1 ? noBuild : noBuild.slice(0, dash);
  const pre = dash === -1 ? '' : noBuild.slice(dash + 1);
  const firstDot = core.indexOf('.');
  const head = rule === 'minor' ? core.slice(0, firstDot) : core.slice(0, core.indexOf('.', firstDot + 1));
  return `${head}-${pre}`;
}

/**
 * The version whose processes serve a request from `terminalVersion`: the
 * exact version first, then the newest matching version still taking logins,
 * then the newest matching draining one. `terminalVersion` must be valid.
 */
export function findServing(service: ServiceIndex, terminalVersion: string): VersionEntry | undefined {
  const exact = service.versions.get(terminalVersion);
  if (exact !== undefined) return exact;
  if (service.match === 'exact') return undefined;
  const key = matchKey(service.match, terminalVersion);
  return service.activeByKey.get(key)?.[0] ?? service.servingByKey.get(key)?.[0];
}

/** Like findServing, but only versions with active processes (logins under `allow`). */
export function findActive(service: ServiceIndex, terminalVersion: string): VersionEntry | undefined {
  const exact = service.versions.get(terminalVersion);
  if (exact !== undefined && exact.active.length > 0) return exact;
  if (service.match === 'exact') return undefined;
  return service.activeByKey.get(matchKey(service.match, terminalVersion))?.[0];
}

function indexService(name: string, policy: ServicePolicy): ServiceIndex {
  const active = new Map<string, ProcessEntry[]>();
  const serving = new Map<string, ProcessEntry[]>();
  for (const p of policy.processes) {
    // A validated policy never holds a bad version; skipping keeps the index total anyway.
    if (!isValidVersion(p.version)) continue;
    if (p.state !== 'active' && p.state !== 'draining') continue;
    push(serving, p.version, p);
    if (p.state === 'active') push(active, p.version, p);
  }

  const served = [...serving.keys()].sort(compareVersionsDesc);
  const versions = new Map<string, VersionEntry>();
  const activeByKey = new Map<string, VersionEntry[]>();
  const servingByKey = new Map<string, VersionEntry[]>();
  // Walking newest first makes every per-key list come out newest first.
  for (const version of served) {
    const act = active.get(version) ?? [];
    const srv = serving.get(version) ?? [];
    const entry: VersionEntry = { version, active: act, serving: srv, requestPool: act.length > 0 ? act : srv };
    versions.set(version, entry);
    if (policy.match === 'exact') continue;
    const key = matchKey(policy.match, version);
    push(servingByKey, key, entry);
    if (act.length > 0) push(activeByKey, key, entry);
  }

  return { name, policy, match: policy.match, versions, served, canary: policy.canary, activeByKey, servingByKey };
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
