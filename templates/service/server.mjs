// A sample service for switchyard: HTTP plus WebSocket sessions, listening on
// PORT, reporting the versions of the terminals it holds through the
// heartbeat SDK. `switchyard init --template service` copies it into a project.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { startHeartbeat } from 'switchyard-cli/heartbeat';

const port = Number(process.env.PORT ?? 8080);
const version = process.env.SWITCHYARD_VERSION ?? '0.0.0';
const processId = process.env.SWITCHYARD_PROCESS ?? `local@${version}#0`;

/** Open sessions: socket → the version of the terminal holding it. */
const sessions = new Map();

function terminalVersion(url, headers) {
  return url.searchParams.get('version') ?? headers['x-switchyard-version'] ?? 'unknown';
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://service.invalid');
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    const answer = url.pathname === '/healthz'
      ? { ok: true, version, process: processId, sessions: sessions.size }
      : { version, process: processId, method: req.method, path: url.pathname, bytes: Buffer.byteLength(body) };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer));
  });
});

const wss = new WebSocketServer({ server });
wss.on('connection', (socket, req) => {
  const url = new URL(req.url ?? '/', 'http://service.invalid');
  sessions.set(socket, terminalVersion(url, req.headers));
  socket.on('message', (data) => socket.send(JSON.stringify({ version, echo: data.toString() })));
  socket.on('close', () => sessions.delete(socket));
  socket.on('error', () => sessions.delete(socket));
});

const heartbeat = process.env.SWITCHYARD_ROUTER_URL
  ? startHeartbeat({ terminals: () => sessions.values() })
  : undefined;

server.listen(port, () => {
  console.log(`${processId} (version ${version}) listening on ${port}`);
});

// PM2 stops a process with SIGINT: report one last time, then close.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    await heartbeat?.stop();
    for (const socket of sessions.keys()) socket.close(1001, 'server stopping');
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
