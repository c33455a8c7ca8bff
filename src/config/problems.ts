import type { z } from 'zod';
import { printable } from '../core/version.js';
import { redactUrl } from './redis-url.js';
import { knownKeysAt } from './schema.js';

/**
 * Config problems, each as "<file>: <key.path>: found <value>, expected
 * <form>", so a person can fix the file from the message alone. Schema
 * issues and cross-field checks both become problems here.
 */
export interface ConfigProblem {
  /** Dotted key path, like services.lobby.ports. */
  path: string;
  /** What the file holds there, shown as in the file ("nothing" for a missing key). */
  found: string;
  /** The accepted form, with an example. */
  expected: string;
  /** The environment variable the value came from, when it did not come from the file. */
  source?: string;
}

/** A problem before the found value is looked up in the raw config. */
export interface RawProblem {
  path: readonly PropertyKey[];
  expected: string;
  /** Set when the value at `path` is not what to show (unknown keys, bad names). */
  found?: string;
}

export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`)).join('');
}

/** A value the way the file would show it, short enough for one line. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  // A URL's password (coordination.redis) never reaches a message.
  if (typeof value === 'string') return JSON.stringify(printable(redactUrl(value), 80));
  if (typeof value === 'function') return 'a function';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current = root;
  for (const part of path) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, part)) return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The known key a typo most likely meant, if any is close. */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = candidate.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, candidate);
    if (distance <= Math.max(2, Math.floor(candidate.length / 4)) && (best === undefined || distance < best.distance)) {
      best = { key: candidate, distance };
    }
  }
  return best?.key;
}

/** The "expected" text for zod's built-in issues that no field schema gave a message for. */
export function fallbackExpected(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected === 'object' ? 'a mapping' : issue.expected === 'array' ? 'a list' : `a ${String(issue.expected)}`;
    case 'invalid_value':
      return issue.values.map((v) => String(v)).join(' or ');
    default:
      return 'a valid value';
  }
}

/** Zod issues to problems: one per unknown key, the nested reason for a bad record key. */
export function problemsFromIssues(issues: readonly z.core.$ZodIssue[]): RawProblem[] {
  const problems: RawProblem[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(issue.path);
      for (const key of issue.keys) {
        const guess = suggestKey(key, known);
        const hint = guess === undefined ? '' : ` (did you mean "${guess}"?)`;
        const list = known.length > 0 ? `one of the keys ${known.join(', ')}${hint}` : `no key "${key}" here${hint}`;
        problems.push({ path: [...issue.path, key], found: 'an unknown key', expected: list });
      }
    } else if (issue.code === 'invalid_key') {
      const key = issue.path[issue.path.length - 1];
      problems.push({ path: issue.path, found: `the name ${describeValue(String(key))}`, expected: issue.issues[0]?.message ?? issue.message });
    } else {
      problems.push({ path: issue.path, expected: issue.message });
    }
  }
  return problems;
}

/** Looks up what the raw config holds at each problem, and which variable set it. */
export function finishProblems(raw: unknown, problems: readonly RawProblem[], sources: ReadonlyMap<string, string>): ConfigProblem[] {
  return problems.map((p) => {
    const path = formatPath(p.path);
    const problem: ConfigProblem = { path, found: p.found ?? describeValue(valueAt(raw, p.path)), expected: p.expected };
    const source = sources.get(path);
    if (source !== undefined) problem.source = source;
    return problem;
  });
}

export function formatProblems(file: string, problems: readonly ConfigProblem[]): string {
  return problems
    .map((p) => {
      const key = p.path === '' ? '(the whole file)' : p.path;
      const where = p.source === undefined ? `${file}: ${key}` : `${p.source} (environment, overrides ${p.path} of ${file})`;
      return `${where}: found ${p.found}, expected ${p.expected}`;
    })
    .join('\n');
}
