/**
 * The fleet adapter: how switchyard starts, stops and lists the processes of
 * one host. Local hosts go through PM2's programmatic API; remote hosts run
 * the pm2 CLI over ssh. Both implement this one interface.
 */

/** Everything needed to start one process of one version. */
export interface ProcessSpec {
  /** The PM2 name and policy id: `<service>@<version>#<index>`. */
  id: string;
  service: string;
  version: string;
  host: string;
  /** Where terminals are sent (the host's address). */
  address: string;
  port: number;
  script: string;
  args: string[];
  cwd: string;
  /** The whole environment of the process, given explicitly. */
  env: Record<string, string>;
  killTimeoutMs: number;
}

/** A process as the fleet reports it. */
export interface FleetProcess {
  id: string;
  pid: number;
  status: string;
  cpu: number;
  memory: number;
  uptimeMs: number | null;
  restarts: number;
}

export interface Fleet {
  readonly host: string;
  start(spec: ProcessSpec): Promise<void>;
  /** Stops gracefully (SIGINT, then the kill timeout) and removes the process from the fleet's list. */
  remove(id: string): Promise<void>;
  list(): Promise<FleetProcess[]>;
  /** The last lines the process wrote (stdout and stderr). */
  logTail(id: string, lines: number): Promise<string>;
  close(): Promise<void>;
}
