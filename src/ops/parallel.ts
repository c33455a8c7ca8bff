/**
 * Runs `fn` over `items` with at most `limit` calls in flight, and returns
 * the results in the items' order. `fn` should not throw: bulk steps turn
 * failures into results, so one bad host never hides the others.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await fn(items[index]!, index);
    }
  };
  const workers = Math.max(1, Math.min(Math.floor(limit) || 1, items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}

/** How many hosts a rollout step works on at once unless told otherwise. */
export const DEFAULT_PARALLEL = 8;
