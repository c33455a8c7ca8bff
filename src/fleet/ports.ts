import { createServer } from 'node:net';

/** Whether a TCP port can be bound on this machine right now. */
export function canBind(port: number, host = '0.0.0.0'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Takes the first candidate not already taken by this deploy that can
 * really be bound, so a port some other program holds is skipped.
 */
export async function takePort(candidates: number[], taken: Set<number>, bindable: (port: number) => Promise<boolean>): Promise<number | undefined> {
  for (const port of candidates) {
    if (taken.has(port)) continue;
    if (await bindable(port)) {
      taken.add(port);
      return port;
    }
  }
  return undefined;
}
