/**
 * `fn` made so that calls while one is running share its promise instead
 * of starting another: a timer's round and an explicit call (a flush before
 * a read, a poll before a take) never overlap on the same connection.
 */
export function singleFlight<T>(fn: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () => {
    running ??= fn().finally(() => {
      running = undefined;
    });
    return running;
  };
}
