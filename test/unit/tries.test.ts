import { describe, expect, it } from 'vitest';
import { describeCalls, describeTries } from '../../src/demo/tries.js';
import type { TerminalCounters } from '../../src/demo/terminals.js';

describe('describeTries', () => {
  it('prints first-try successes, successes after a retry with the retries, and failures', () => {
    expect(describeTries('requests', { firstTry: 4812, afterRetry: 0, retries: 0, failed: 0 })).toBe('4,812 requests: 4,812 first-try, 0 after retry (0 retries), 0 failed');
    expect(describeTries('logins', { firstTry: 750, afterRetry: 10, retries: 1, failed: 1 })).toBe('761 logins: 750 first-try, 10 after retry (1 retry), 1 failed');
  });

  it('a success after a retry never hides among the first-try ones', () => {
    const c: TerminalCounters = {
      requestsOk: 12,
      requestsFirstTry: 9,
      requestsAfterRetry: 3,
      requestRetries: 5,
      requestsFailed: 0,
      sessionsOpened: 4,
      sessionsCompleted: 4,
      sessionsCutOff: 0,
      upgradesFollowed: 0,
      loginsOk: 4,
      loginsFirstTry: 4,
      loginsAfterRetry: 0,
      loginRetries: 2,
      loginsFailed: 1,
    };
    expect(describeCalls(c)).toBe('12 requests: 9 first-try, 3 after retry (5 retries), 0 failed; 5 logins: 4 first-try, 0 after retry (2 retries), 1 failed');
  });
});
