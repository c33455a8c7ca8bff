import { describe, expect, it } from 'vitest';
import { judgeInterval, type AnalysisSettings, type CheckResult, type IntervalFigures, type VerdictKind } from '../../src/core/rollout-verdict.js';

const A: AnalysisSettings = { intervalMs: 10_000, failureLimit: 2, inconclusiveLimit: 3, minRequests: 50, maxErrorRate: 0.01, maxLatencyP99Ms: undefined, maxRestarts: 0 };
const LAT: AnalysisSettings = { ...A, maxLatencyP99Ms: 800 };
const down = (why: string) => ({ unreachable: why });
const check = (value: CheckResult['value'], max = 1): CheckResult => ({ query: 'rate(x{version="{{version}}"}[1m])', max, value });
const f = (traffic: IntervalFigures['traffic'], restarts: IntervalFigures['restarts'] = 0, checks: CheckResult[] = []): IntervalFigures => ({ traffic, restarts, checks });

describe('judgeInterval', () => {
  it.each<[string, IntervalFigures, AnalysisSettings, VerdictKind, string]>([
    ['healthy', f({ requests: 1000, errors: 5 }), A, 'pass', '5 of 1000 requests failed (0.5%), 0 restarts.'],
    ['no errors at maxErrorRate 0', f({ requests: 50, errors: 0 }), { ...A, maxErrorRate: 0 }, 'pass', '0 of 50 requests failed'],
    ['exactly at maxErrorRate', f({ requests: 100, errors: 1 }), A, 'pass', '(1%)'],
    ['just over maxErrorRate', f({ requests: 1000, errors: 11 }), A, 'fail', '11 of 1000 requests failed (1.1%), above maxErrorRate (1%).'],
    ['too few requests', f({ requests: 49, errors: 0 }), A, 'inconclusive', 'served 49 requests in the interval, fewer than minRequests (50)'],
    ['no requests at all', f({ requests: 0, errors: 0 }), A, 'inconclusive', 'served 0 requests'],
    ['too few requests, all failing: not judged on so few', f({ requests: 10, errors: 10 }), A, 'inconclusive', 'fewer than minRequests'],
    ['traffic source unreachable', f(down('Redis at redis://x is unavailable')), A, 'inconclusive', 'could not be read (Redis at redis://x is unavailable)'],
    ['p99 within the limit', f({ requests: 100, errors: 0, p99Ms: 800 }), LAT, 'pass', 'p99 800 ms'],
    ['p99 over the limit', f({ requests: 100, errors: 0, p99Ms: 812.4 }), LAT, 'fail', 'p99 latency was 812 ms, above maxLatencyP99 (800 ms)'],
    ['p99 limit set but not measured', f({ requests: 100, errors: 0 }), LAT, 'inconclusive', 'does not measure latency'],
    ['p99 measured, no limit', f({ requests: 100, errors: 0, p99Ms: 5000 }), A, 'pass', 'p99 5000 ms'],
    ['a restart', f({ requests: 1000, errors: 0 }, 1), A, 'fail', 'restarted 1 times in the interval, more than maxRestarts (0)'],
    ['restarts within maxRestarts', f({ requests: 1000, errors: 0 }, 2), { ...A, maxRestarts: 2 }, 'pass', '2 restarts'],
    ['a restart with too few requests still fails', f({ requests: 0, errors: 0 }, 3), A, 'fail', 'restarted 3 times'],
    ['a restart while traffic is unreadable still fails', f(down('haproxy'), 3), A, 'fail', 'restarted 3 times'],
    ['PM2 unreachable', f({ requests: 1000, errors: 0 }, down('pm2 jlist timed out')), A, 'inconclusive', 'PM2 restarts could not be read (pm2 jlist timed out)'],
    ['errors over the limit while PM2 is unreachable: fail wins', f({ requests: 100, errors: 50 }, down('pm2')), A, 'fail', '50 of 100'],
    ['a check within its max', f({ requests: 100, errors: 0 }, 0, [check(0.5)]), A, 'pass', '1 Prometheus checks within their max'],
    ['a check at its max', f({ requests: 100, errors: 0 }, 0, [check(1)]), A, 'pass', ''],
    ['a check over its max', f({ requests: 100, errors: 0 }, 0, [check(0.5), check(2)]), A, 'fail', 'gave 2, above its max 1'],
    ['a check over its max with too few requests', f({ requests: 1, errors: 0 }, 0, [check(2)]), A, 'fail', 'above its max'],
    ['a check that gave NaN is never a pass', f({ requests: 100, errors: 0 }, 0, [check(Number.NaN)]), A, 'fail', 'gave NaN'],
    ['a check unreachable', f({ requests: 100, errors: 0 }, 0, [check(0), check(down('empty result'))]), A, 'inconclusive', 'gave no value (empty result)'],
    ['a check unreachable, errors over: fail', f({ requests: 100, errors: 9 }, 0, [check(down('timeout'))]), A, 'fail', 'above maxErrorRate'],
  ])('%s', (_what, figures, settings, verdict, reason) => {
    const judged = judgeInterval(figures, settings);
    expect(judged.verdict).toBe(verdict);
    expect(judged.reason).toContain(reason);
    expect(judged.figures).toBe(figures);
  });

  it('gives the error rate when there were requests', () => {
    expect(judgeInterval(f({ requests: 200, errors: 3 }), A).errorRate).toBe(0.015);
    expect(judgeInterval(f({ requests: 0, errors: 0 }), A).errorRate).toBeUndefined();
    expect(judgeInterval(f(down('x')), A).errorRate).toBeUndefined();
  });

  it('a reason is one sentence', () => {
    for (const figures of [f({ requests: 1000, errors: 0 }), f({ requests: 1, errors: 0 }), f({ requests: 1000, errors: 500 })]) {
      expect(judgeInterval(figures, A).reason).toMatch(/^[^\n]+\.$/);
    }
  });
});
