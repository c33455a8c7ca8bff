import semver from 'semver';
import { usageError } from './errors.js';

export type MatchRule = 'exact' | 'patch' | 'minor';
export const MATCH_RULES: readonly MatchRule[] = ['exact', 'patch', 'minor'];

/** Longest version string accepted; longer input is refused before parsing. */
const MAX_VERSION_LENGTH = 256;

/**
 * Parses a strict semver version (no leading "v", no ranges, no padding).
 * Anything else is refused with a sentence that says what was wrong, so no
 * invalid version ever reaches a process name or a command line.
 */
export function parseVersion(input: unknown, what = 'version'): semver.SemVer {
  if (typeof input !== 'string' || input.length === 0) {
    throw usageError('version_required', `A ${what} is required, as semver like 1.4.2.`);
  }
  if (input.length > MAX_VERSION_LENGTH) {
    throw usageError('invalid_version', `The ${what} is ${input.length} characters long; a semver version like 1.4.2 is expected.`);
  }
  const parsed = semver.parse(input, { loose: false });
  // semver's `version` drops +build, so compare against the full canonical form.
  if (parsed === null || canonical(parsed) !== input) {
    throw usageError('invalid_version', `"${printable(input)}" is not a valid ${what}: expected semver like 1.4.2 (MAJOR.MINOR.PATCH, optional -prerelease and +build).`);
  }
  return parsed;
}

/** The version string, checked (build metadata kept). */
export function checkVersion(input: unknown, what = 'version'): string {
  return canonical(parseVersion(input, what));
}

export function isValidVersion(input: unknown): input is string {
  if (typeof input !== 'string' || input.length > MAX_VERSION_LENGTH) return false;
  const parsed = semver.parse(input, { loose: false });
  return parsed !== null && canonical(parsed) === input;
}

function canonical(parsed: semver.SemVer): string {
  return parsed.build.length === 0 ? parsed.version : `${parsed.version}+${parsed.build.join('.')}`;
}

/**
 * Whether a process of `processVersion` serves a terminal of `terminalVersion`
 * under the service's match rule: exact (same version), patch (same
 * major.minor), minor (same major). Prerelease tags must be equal for patch
 * and minor too, so a 1.5.0-beta terminal never lands on a 1.5.0 process.
 */
export function versionMatches(rule: MatchRule, processVersion: string, terminalVersion: string): boolean {
  if (rule === 'exact') return processVersion === terminalVersion;
  const p = semver.parse(processVersion);
  const t = semver.parse(terminalVersion);
  if (p === null || t === null) return false;
  if (p.major !== t.major) return false;
  if (p.prerelease.join('.') !== t.prerelease.join('.')) return false;
  if (rule === 'minor') return true;
  return p.minor === t.minor;
}

/** Sorts versions newest first (semver precedence). */
export function compareVersionsDesc(a: string, b: string): number {
  return semver.rcompare(a, b);
}

/** Keeps error messages readable when input holds control characters. */
export function printable(input: string, max = 64): string {
  const cut = input.length > max ? `${input.slice(0, max)}…` : input;
  return cut.replace(/[\u0000-\u001f\u007f]/g, '?');
}
