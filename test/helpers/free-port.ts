import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Ports for the tests' servers (routers, HAProxy, redis-server, sshd…),
 * chosen outside the kernel's ephemeral range. A port the OS picked for a
 * listen on port 0 sits in that range, and between the pick and the bind
 * (a router started under PM2 seconds later, or started again after PM2's
 * daemon died) any outgoing connection of a parallel test may take it as
 * its local port, and the bind fails with EADDRINUSE. Above the range (on
 * Linux's default, 61000-65535) the kernel hands out nothing by itself.
 * Each vitest pool gets its own slice, and ports are taken in turn inside
 * it, each checked free right now.
 */

const SLICES = 8;

function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi)) return [lo!, hi!];
  } catch {
    // Not Linux: its usual range.
  }
  return [32768, 60999];
}

/** This pool's ports: above the ephemeral range when there is room there, else just below it. */
function poolSlice(): { from: number; size: number } {
  const [lo, hi] = ephemeralRange();
  const span = 65535 - hi >= 1600 ? { from: hi + 1, to: 65535 } : { from: Math.max(1024, lo - 3200), to: lo - 1 };
  const size = Math.floor((span.to - span.from + 1) / SLICES);
  const pool = (Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0) || 0) % SLICES;
  return { from: span.from + pool * size, size };
}

const slice = poolSlice();
/** Where the next pick starts: random, so a file run after another in the same pool does not retry its ports first. */
let cursor = Math.floor(Math.random() * slice.size);

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A TCP port free on `host` right now, outside the ephemeral range, not handed out before by this module. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let tried = 0; tried < slice.size; tried += 1) {
    const port = slice.from + (cursor++ % slice.size);
    if (await canListen(port, host)) return port;
  }
  throw new Error(`no free port in ${slice.from}-${slice.from + slice.size - 1} on ${host}`);
}

/** Several distinct free ports. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i += 1) ports.push(await freePort(host));
  return ports;
}
