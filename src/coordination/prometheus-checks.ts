import type { PrometheusConfig } from '../config/rollout-config.js';
import type { CheckResult, Unreachable } from '../core/rollout-verdict.js';

/**
 * The optional Prometheus checks of a rollout's analysis: each query, with
 * {{service}} and {{version}} filled in, is asked of `/api/v1/query` (an
 * instant query) within the timeout; its value (the largest, when several
 * series answer) is judged against the check's max by the verdict.
 * Anything that is not a number — Prometheus unreachable, an error
 * answer, no series, NaN, a range vector — is `unreachable`: the verdict is
 * then inconclusive, never a pass.
 */

export function fillQuery(query: string, service: string, version: string): string {
  return query.replace(/\{\{(service|version)\}\}/g, (_, name: string) => (name === 'service' ? service : version));
}

/** Prometheus writes special floats its own way. */
function sampleValue(text: unknown): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  return typeof text === 'string' && text.trim() !== '' ? Number(text) : Number.NaN;
}

interface QueryAnswer {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: unknown };
}

/** The value of an instant query's answer, or why it has none. */
export function answerValue(answer: QueryAnswer): number | Unreachable {
  if (answer.status !== 'success') return { unreachable: `Prometheus answered ${answer.status ?? 'without a status'}${answer.error ? `: ${answer.error}` : ''}` };
  const { resultType, result } = answer.data ?? {};
  let samples: unknown[];
  if (resultType === 'scalar') samples = [(result as unknown[] | undefined)?.[1]];
  else if (resultType === 'vector' && Array.isArray(result)) samples = result.map((series) => (series as { value?: unknown[] }).value?.[1]);
  else return { unreachable: `the query gave a ${resultType ?? 'missing'} result; an instant vector or scalar is needed (wrap a range in max_over_time or rate)` };
  if (samples.length === 0) return { unreachable: 'the query matched no series' };
  const values = samples.map(sampleValue).filter((v) => !Number.isNaN(v));
  if (values.length === 0) return { unreachable: 'the query gave NaN (no data to compute it from)' };
  return Math.max(...values);
}

async function runOne(p: PrometheusConfig, check: { query: string; max: number }, service: string, version: string): Promise<CheckResult> {
  const url = `${p.url}/api/v1/query?${new URLSearchParams({ query: fillQuery(check.query, service, version) })}`;
  let value: number | Unreachable;
  try {
    const response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(p.timeoutMs) });
    const text = await response.text();
    let answer: QueryAnswer;
    try {
      answer = JSON.parse(text) as QueryAnswer;
    } catch {
      answer = { status: `HTTP ${response.status}`, error: `not JSON: ${text.slice(0, 120)}` };
    }
    value = answerValue(answer);
  } catch (error) {
    const e = error as Error & { cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${p.timeoutMs} ms` : (e.cause?.code ?? e.message);
    value = { unreachable: `Prometheus at ${p.url} could not be asked (${why})` };
  }
  return { query: check.query, max: check.max, value };
}

/** Runs every check for one version at once; never throws. */
export function runPrometheusChecks(p: PrometheusConfig | undefined, service: string, version: string): Promise<CheckResult[]> {
  if (p === undefined) return Promise.resolve([]);
  return Promise.all(p.checks.map((check) => runOne(p, check, service, version)));
}
