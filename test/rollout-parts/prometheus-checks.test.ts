import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerValue, fillQuery, runPrometheusChecks } from '../../src/coordination/prometheus-checks.js';
import type { PrometheusConfig } from '../../src/config/rollout-config.js';
import { judgeInterval, type AnalysisSettings } from '../../src/core/rollout-verdict.js';
import { freePort } from '../helpers/free-port.js';

/**
 * Prometheus checks against a small local server that answers
 * /api/v1/query like Prometheus does, keyed by the query it receives
 * (so a query that arrives mangled gets no answer and the test fails).
 */

const vector = (...values: string[]) => ({ status: 'success', data: { resultType: 'vector', result: values.map((v, i) => ({ metric: { i: String(i) }, value: [1764400000, v] })) } });
const ANSWERS: Record<string, unknown> = {
  'sum(rate(errors{service="lobby",version="1.6.0+build.7"}[1m]))': vector('0.02'),
  'two series': vector('0.1', '0.7'),
  'scalar(1)': { status: 'success', data: { resultType: 'scalar', result: [1764400000, '1'] } },
  'empty': vector(),
  'nan': vector('NaN'),
  'nan and a number': vector('NaN', '3'),
  'inf': vector('+Inf'),
  'range': { status: 'success', data: { resultType: 'matrix', result: [] } },
};

let server: Server;
let base: string;
const asked: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = url.searchParams.get('query') ?? '';
    asked.push(query);
    if (url.pathname !== '/api/v1/query') return res.writeHead(404).end();
    if (query === 'slow') return void setTimeout(() => res.writeHead(200).end('{}'), 2000);
    if (query === 'html') return res.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>');
    const answer = ANSWERS[query] ?? { status: 'error', errorType: 'bad_data', error: `parse error in ${JSON.stringify(query)}` };
    res.writeHead(ANSWERS[query] === undefined ? 400 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const config = (queries: string[], url = base, timeoutMs = 1000): PrometheusConfig => ({ url, timeoutMs, checks: queries.map((query) => ({ query, max: 0.5 })) });

describe('Prometheus checks', () => {
  it('fills {{service}} and {{version}} and URL-encodes the query (a "+" in a version survives)', async () => {
    const [result] = await runPrometheusChecks(config(['sum(rate(errors{service="{{service}}",version="{{version}}"}[1m]))']), 'lobby', '1.6.0+build.7');
    expect(asked).toContain('sum(rate(errors{service="lobby",version="1.6.0+build.7"}[1m]))');
    expect(result).toEqual({ query: 'sum(rate(errors{service="{{service}}",version="{{version}}"}[1m]))', max: 0.5, value: 0.02 });
  });

  it.each<[string, number | RegExp]>([
    ['two series', 0.7],
    ['scalar(1)', 1],
    ['nan and a number', 3],
    ['inf', Number.POSITIVE_INFINITY],
    ['empty', /matched no series/],
    ['nan', /NaN/],
    ['range', /a matrix result; an instant vector or scalar is needed/],
    ['not a query at all', /Prometheus answered error: parse error in "not a query at all"/],
    ['html', /Prometheus answered HTTP 502: not JSON: <html>bad gateway/],
    ['slow', /no answer within 300 ms/],
  ])('%s → %s', async (query, expected) => {
    const [result] = await runPrometheusChecks(config([query], base, 300), 'lobby', '1.6.0');
    if (typeof expected === 'number') expect(result!.value).toBe(expected);
    else expect((result!.value as { unreachable: string }).unreachable).toMatch(expected);
  });

  it('an unreachable Prometheus is unreachable, and the verdict is inconclusive, never a pass', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const checks = await runPrometheusChecks(config(['scalar(1)'], dead), 'lobby', '1.6.0');
    expect((checks[0]!.value as { unreachable: string }).unreachable).toMatch(/could not be asked \(ECONNREFUSED\)/);
    const settings: AnalysisSettings = { intervalMs: 10_000, failureLimit: 2, inconclusiveLimit: 3, minRequests: 1, maxErrorRate: 0.01, maxLatencyP99Ms: undefined, maxRestarts: 0 };
    expect(judgeInterval({ traffic: { requests: 100, errors: 0 }, restarts: 0, checks }, settings).verdict).toBe('inconclusive');
  });

  it('runs no check without a prometheus block', async () => {
    expect(await runPrometheusChecks(undefined, 'lobby', '1.6.0')).toEqual([]);
  });

  it.each([
    [{ status: 'success', data: { resultType: 'vector', result: [{ value: [1, '-Inf'] }] } }, Number.NEGATIVE_INFINITY],
    [{ status: 'success', data: { resultType: 'vector', result: [{ value: [1, ''] }] } }, { unreachable: 'the query gave NaN (no data to compute it from)' }],
    [{}, { unreachable: 'Prometheus answered without a status' }],
  ])('answerValue(%j)', (answer, expected) => {
    expect(answerValue(answer)).toEqual(expected);
  });

  it('fillQuery leaves other braces alone', () => {
    expect(fillQuery('x{a="{{service}}"} / {{version}}{{version}}', 's', 'v')).toBe('x{a="s"} / vv');
  });
});
