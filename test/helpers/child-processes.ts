import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * Real child processes for reliability tests: every one spawned through a
 * tracker is killed by `killAll()` (call it in afterEach/afterAll), so a
 * failed assertion never leaves writers running behind the suite.
 */
export class ChildTracker {
  private readonly live = new Set<ChildProcess>();

  spawn(command: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const env = { ...process.env, ...opts.env };
    // Whatever the test runner put in NODE_OPTIONS is not meant for our children.
    delete env.NODE_OPTIONS;
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...opts, env });
    this.live.add(child);
    child.once('exit', () => this.live.delete(child));
    return child;
  }

  get count(): number {
    return this.live.size;
  }

  async killAll(): Promise<void> {
    const waiting = [...this.live].map((child) => {
      const gone = waitExit(child);
      child.kill('SIGKILL');
      return gone;
    });
    await Promise.all(waiting);
  }
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Resolves with the exit code (or signal) once the child has gone. */
export function waitExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (!isRunning(child)) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
}

/** Collects the child's stderr, for failure messages. */
export function captureStderr(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (text += chunk));
  return () => text;
}

/**
 * The child's stdout, line by line. `next()` waits for the next line and
 * fails if the child exits first or `timeoutMs` passes.
 */
export function lineReader(child: ChildProcess, stderr: () => string = () => ''): { next(timeoutMs?: number): Promise<string> } {
  const queue: string[] = [];
  const waiters: Array<(line: string | null) => void> = [];
  let ended = false;
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => (waiters.length > 0 ? waiters.shift()!(line) : queue.push(line)));
  lines.on('close', () => {
    ended = true;
    for (const waiter of waiters.splice(0)) waiter(null);
  });
  return {
    next(timeoutMs = 10_000) {
      if (queue.length > 0) return Promise.resolve(queue.shift()!);
      if (ended) return Promise.reject(new Error(`child ${child.pid} ended without output; stderr: ${stderr()}`));
      return new Promise((done, fail) => {
        const waiter = (line: string | null) => {
          clearTimeout(timer);
          if (line === null) fail(new Error(`child ${child.pid} ended without output; stderr: ${stderr()}`));
          else done(line);
        };
        const timer = setTimeout(() => {
          // Drop the waiter, so a late line is queued rather than swallowed.
          waiters.splice(waiters.indexOf(waiter), 1);
          fail(new Error(`no line from child ${child.pid} within ${timeoutMs} ms; stderr: ${stderr()}`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
  };
}
