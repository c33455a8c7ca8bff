const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * `--watch`: runs `show` now and again every `everyMs` until Ctrl-C (or
 * SIGTERM), which ends the command with exit 0; the wait is cut into
 * short sleeps so the signal is heard at once.
 */
export async function watchUntilStopped(show: () => Promise<unknown>, everyMs: number): Promise<void> {
  let stopped = false;
  const stop = () => {
    stopped = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    while (!stopped) {
      await show();
      const until = Date.now() + everyMs;
      while (!stopped && Date.now() < until) await sleep(100);
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
