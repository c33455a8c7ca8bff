import { describe, expect, it } from 'vitest';
import { singleFlight } from '../../src/core/single-flight.js';

describe('singleFlight', () => {
  it('calls made while one runs share it; the next call after it ends starts afresh, failures included', async () => {
    let runs = 0;
    let fail = false;
    const once = singleFlight(async () => {
      runs += 1;
      await new Promise((r) => setTimeout(r, 10));
      if (fail) throw new Error('down');
      return runs;
    });
    expect(await Promise.all([once(), once(), once()])).toEqual([1, 1, 1]);
    fail = true;
    await expect(Promise.all([once(), once()])).rejects.toThrow('down');
    expect(runs).toBe(2);
    fail = false;
    expect(await once()).toBe(3);
  });
});
