import type { TerminalCounters } from './terminals.js';

/** Calls split by how they ended: "failed" is only the calls that never succeeded. */
export interface Tries {
  firstTry: number;
  afterRetry: number;
  /** Every retry made, by the calls that succeeded and by those that failed. */
  retries: number;
  failed: number;
}

const count = (n: number) => n.toLocaleString('en-US');

/**
 * "4,812 requests: 4,812 first-try, 0 after retry (0 retries), 0 failed":
 * the one way every count of calls is printed, so a success that needed a
 * retry is never shown as a plain success.
 */
export function describeTries(noun: string, t: Tries): string {
  const total = t.firstTry + t.afterRetry + t.failed;
  return `${count(total)} ${noun}: ${count(t.firstTry)} first-try, ${count(t.afterRetry)} after retry (${count(t.retries)} ${t.retries === 1 ? 'retry' : 'retries'}), ${count(t.failed)} failed`;
}

export function requestTries(c: TerminalCounters): Tries {
  return { firstTry: c.requestsFirstTry, afterRetry: c.requestsAfterRetry, retries: c.requestRetries, failed: c.requestsFailed };
}

export function loginTries(c: TerminalCounters): Tries {
  return { firstTry: c.loginsFirstTry, afterRetry: c.loginsAfterRetry, retries: c.loginRetries, failed: c.loginsFailed };
}

/** Requests and logins, each split by how they ended, in one line. */
export function describeCalls(c: TerminalCounters): string {
  return `${describeTries('requests', requestTries(c))}; ${describeTries('logins', loginTries(c))}`;
}
