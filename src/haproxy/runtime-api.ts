import { createConnection } from 'node:net';
import { mapFile, MAP_NAMES, parseSlotBackend, RULES_MARK, type MapName } from './layout.js';
import { emptyMaps, type AdminState, type Command, type Observed, type ObservedServer } from './plan.js';

/**
 * HAProxy's runtime API over its admin socket: one connection per command
 * (HAProxy answers and closes in non-interactive mode), or several reads
 * on one connection in its prompt mode; each bounded by a timeout so a
 * hung HAProxy cannot stall the router.
 */
export class RuntimeApi {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 5000,
  ) {}

  send(command: string): Promise<string> {
    return this.exchange(`${command}\n`, command);
  }

  /**
   * Several commands on one connection (the applier's reads, every pass):
   * in prompt mode HAProxy ends each answer with "\n> ", so the answers
   * come apart there; no answer of these commands has a line starting so.
   */
  async sendAll(commands: string[]): Promise<string[]> {
    const text = await this.exchange(`prompt\n${commands.join('\n')}\nquit\n`, commands[0] ?? '');
    const answers = text.split('\n> ').slice(1, commands.length + 1);
    if (answers.length !== commands.length) throw new Error(`HAProxy answered ${answers.length} of ${commands.length} commands on one connection`);
    return answers;
  }

  private exchange(input: string, first: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(this.socketPath);
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => socket.destroy(new Error(`HAProxy did not answer "${first.split(' ').slice(0, 3).join(' ')}" within ${this.timeoutMs} ms`)), this.timeoutMs);
      socket.on('connect', () => socket.end(input));
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.on('close', (hadError) => {
        clearTimeout(timer);
        if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
      });
    });
  }

  /** Runs a planned command; throws with HAProxy's answer when it did not succeed. */
  async run(command: Command): Promise<void> {
    const answer = (await this.send(command.text)).trim();
    const ok = command.ok === undefined ? answer === '' : answer.includes(command.ok);
    if (!ok) throw new Error(`HAProxy refused "${command.text}": ${answer || 'no answer'}`);
  }

  /** The worker's pid (changes on every reload and restart). */
  async workerPid(): Promise<number> {
    return parseInfo(await this.send('show info')).worker;
  }

  /** What HAProxy holds now: its worker and rules, the slot backends, their servers with state and sessions, and the maps. */
  async observe(dir: string): Promise<Observed> {
    const [info, states, stats, ...maps] = await this.sendAll([
      'show info',
      'show servers state',
      // Backends (type 2) and servers (type 4): every backend has a BACKEND row, even one without servers.
      'show stat -1 6 -1',
      ...MAP_NAMES.map((name) => `show map ${mapFile(dir, name)}`),
    ]);
    const rows = statRows(stats!);
    const observed: Observed = { ...parseInfo(info!), backends: parseBackends(rows), servers: parseServers(states!, parseSessions(rows)), maps: emptyMaps() };
    MAP_NAMES.forEach((name, i) => (observed.maps[name as MapName] = parseMap(maps[i]!)));
    return observed;
  }
}

/** The worker's pid and the rules fingerprint from `show info` (its "description" line). */
function parseInfo(text: string): { worker: number; rules: string | undefined } {
  const pid = /^Pid: (\d+)$/m.exec(text);
  if (pid === null) throw new Error('HAProxy answered "show info" without a Pid line');
  const description = /^description: (.*)$/m.exec(text)?.[1]?.trim() ?? '';
  return { worker: Number(pid[1]), rules: description.startsWith(`${RULES_MARK} `) ? description.slice(RULES_MARK.length + 1) : undefined };
}

function dataLines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
}

/** `show stat` CSV rows: pxname, svname, qcur, qmax, scur, … */
function statRows(text: string): string[][] {
  return dataLines(text).map((line) => line.split(','));
}

function parseBackends(rows: string[][]): Set<string> {
  return new Set(rows.filter(([px, sv]) => sv === 'BACKEND' && px !== undefined && parseSlotBackend(px) !== undefined).map(([px]) => px!));
}

/** "backend/server" → current sessions. */
function parseSessions(rows: string[][]): Map<string, number> {
  const sessions = new Map<string, number>();
  for (const [px, sv, , , scur] of rows) if (px !== undefined && sv !== undefined) sessions.set(`${px}/${sv}`, Number(scur) || 0);
  return sessions;
}

// srv_admin_state bits (HAProxy's SRV_ADMF_*): any maintenance bit, or forced/inherited drain.
const ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20;
const ADMIN_DRAIN = 0x08 | 0x10;

function parseServers(text: string, sessions: Map<string, number>): ObservedServer[] {
  const servers: ObservedServer[] = [];
  for (const line of dataLines(text)) {
    const f = line.split(' ');
    // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state … srv_port is field 18.
    const backend = f[1];
    if (backend === undefined || parseSlotBackend(backend) === undefined) continue;
    const name = f[3]!;
    const admin = Number(f[6]);
    const state: AdminState = (admin & ADMIN_MAINT) !== 0 ? 'maint' : (admin & ADMIN_DRAIN) !== 0 ? 'drain' : 'ready';
    servers.push({ backend, name, address: f[4]!, port: Number(f[18]), admin: state, sessions: sessions.get(`${backend}/${name}`) ?? 0 });
  }
  return servers;
}

/** `show map` lines: "<ref> <key> <value…>". */
function parseMap(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(' ');
    const second = first === -1 ? -1 : line.indexOf(' ', first + 1);
    if (!line.startsWith('0x') || second === -1) continue;
    map.set(line.slice(first + 1, second), line.slice(second + 1));
  }
  return map;
}
