import { createServer, type Server } from 'node:http';

/**
 * A stand-in Prometheus on loopback: every instant query is answered with
 * one series of `value`, and remembered. `down()` closes it (the checks
 * then cannot reach it), `up()` listens again on the same port.
 */
export interface FakePrometheus {
  url: string;
  queries: string[];
  up(): Promise<void>;
  down(): Promise<void>;
}

export async function fakePrometheus(value = '0'): Promise<FakePrometheus> {
  const queries: string[] = [];
  let server: Server | undefined;
  let port = 0;
  const make = () => createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://prometheus.invalid');
    queries.push(url.searchParams.get('query') ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [Date.now() / 1000, value] }] } }));
  });
  const fake: FakePrometheus = {
    url: '',
    queries,
    async up() {
      if (server !== undefined) return;
      const s = make();
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      port = (s.address() as { port: number }).port;
      fake.url = `http://127.0.0.1:${port}`;
      server = s;
    },
    async down() {
      const s = server;
      server = undefined;
      if (s === undefined) return;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
  await fake.up();
  return fake;
}
