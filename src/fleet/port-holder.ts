import { readdirSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

/**
 * Which process listens on a TCP port, best effort and Linux only: the
 * listening socket's inode from /proc/net/tcp{,6}, then the process whose
 * file descriptors include it. Processes of other users cannot be looked
 * into, so the answer may only be that "some process" holds it.
 */
export interface PortHolder {
  pid: number;
  command: string;
}

const LISTEN = '0A';

async function listeningInodes(port: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = await readFile(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const local = fields[1];
      if (local === undefined || fields[3] !== LISTEN || fields[9] === undefined) continue;
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.add(fields[9]);
    }
  }
  return inodes;
}

async function commandOf(pid: string): Promise<string> {
  try {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '');
    const text = argv.join(' ');
    return text.length > 160 ? `${text.slice(0, 159)}…` : text;
  } catch {
    return '';
  }
}

/**
 * The process listening on `port`, or undefined when it cannot be told.
 * Synchronous on purpose: this runs only on the way out of a failed start,
 * and thousands of small reads are far quicker without a round trip through
 * the thread pool each (a loaded machine would otherwise hit the budget).
 */
export async function findPortHolder(port: number, budgetMs = 1000): Promise<PortHolder | undefined> {
  const deadline = Date.now() + budgetMs;
  const inodes = await listeningInodes(port);
  if (inodes.size === 0) return undefined;
  const wanted = new Set([...inodes].map((inode) => `socket:[${inode}]`));
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid);
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    if (Date.now() > deadline) return undefined;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target = '';
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        // Closed meanwhile.
      }
      if (wanted.has(target)) return { pid: Number(pid), command: await commandOf(pid) };
    }
  }
  return undefined;
}

/** Whether something already listens on host:port, by trying to bind it for a moment. */
export async function addressInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE'));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(false)));
  });
}

/** The sentence for a router that could not listen: in use, and by which process when that can be told. */
export async function listenFailure(host: string, port: number, error: NodeJS.ErrnoException | undefined): Promise<string> {
  const where = `${host}:${port}`;
  if (error !== undefined && error.code !== 'EADDRINUSE') return `Cannot listen on ${where}: ${error.message}; check router.listen.`;
  const holder = await findPortHolder(port);
  const by = holder === undefined ? 'by another process' : `by pid ${holder.pid}${holder.command === '' ? '' : ` (${holder.command})`}`;
  return `Cannot listen on ${where}: the address is in use ${by}. Stop that process, or change router.listen (is a router already running? try \`switchyard router status\`).`;
}
