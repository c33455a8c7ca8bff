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
  /** PM2's own number for it: deletes go by this, never by name (PM2 reads a name like `…1.4.0-rc.yml…` as a file). */
  pmId?: number;
}

/** What a host says before a start: is the script there, which ports can be bound. */
export interface ProbeResult {
  scriptFound: boolean;
  /** Bindable ports, in the order of the candidates, at most as many as asked for. */
  freePorts: number[];
}

export interface Fleet {
  readonly host: string;
  /** True when every call crosses the network (ssh): callers ask less often. */
  readonly remote: boolean;
  /** True once the connection is known dead (PM2's daemon stopped answering): open a new one. */
  readonly broken?: boolean;
  /** A path from the config as this host reads it: relative to the config's folder here, to the ssh user's home on a remote host. */
  resolvePath(path: string, configDir: string): string;
  /** Checks on the host itself whether `script` exists and which of `ports` can be bound (at most `want`). */
  probe(script: string, ports: number[], want: number): Promise<ProbeResult>;
  /** Copies the contents of a folder of this machine into `dir` on the host; says how. */
  copyFolder(localDir: string, dir: string): Promise<'rsync' | 'tar' | 'copy' | 'none'>;
  /**
   * Starts a new process. Refuses (conflict `name_in_use`) a name PM2
   * already lists: PM2 would restart that process instead, cutting off its
   * sessions.
   */
  start(spec: ProcessSpec): Promise<void>;
  /**
   * Stops gracefully (SIGINT, then the kill timeout) and removes the
   * process from the fleet's list; resolves only once PM2 no longer lists
   * the name (a name it does not list is already removed).
   */
  remove(id: string): Promise<void>;
  list(): Promise<FleetProcess[]>;
  /** The last lines the process wrote (stdout and stderr). */
  logTail(id: string, lines: number): Promise<string>;
  /** The last `lines` lines, then every line written after, until `signal` aborts (`switchyard logs --follow`). */
  followLog?(id: string, lines: number, onLine: (line: string) => void, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}
