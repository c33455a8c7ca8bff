/** One process as switchyard asks PM2 to run it. */
export interface Pm2App {
  name: string;
  script: string;
  args?: string[];
  cwd?: string;
  env: Record<string, string>;
  killTimeoutMs?: number;
  autorestart?: boolean;
  /** Where PM2 writes the process's stdout and stderr. */
  outFile?: string;
  errorFile?: string;
}

/** See pm2StartOptions: the smallest delay PM2 keeps, so a pending restart reads as one. */
const PM2_RESTART_DELAY_MS = 1;

/**
 * The options PM2 is given for a start, here and on remote hosts alike.
 * `restart_delay` of 1 ms: PM2 shows a process it is about to restart
 * after a crash as `waiting restart` instead of `stopped` (its handleExit
 * says `stopped` until the restart begins unless a delay is set, and 0 is
 * dropped as unset), so a crash PM2 is already handling is never read as
 * a process lost for good and replaced.
 */
export function pm2StartOptions(app: Pm2App): Record<string, unknown> {
  return {
    name: app.name,
    script: app.script,
    args: app.args ?? [],
    cwd: app.cwd,
    // The whole environment, given explicitly, so a daemon started long ago
    // with other values never leaks them into a new process.
    env: app.env,
    kill_timeout: app.killTimeoutMs ?? 5000,
    autorestart: app.autorestart ?? true,
    max_restarts: 10,
    min_uptime: 1000,
    restart_delay: PM2_RESTART_DELAY_MS,
    out_file: app.outFile,
    error_file: app.errorFile,
    merge_logs: true,
  };
}
