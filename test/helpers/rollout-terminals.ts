import WebSocket from 'ws';

/**
 * Simulated terminals for rollout tests, in redirect mode, as the patent's
 * terminals behave: log in at the router with their version, connect
 * straight to the address they are given and hold a WebSocket session
 * there; send requests to the process /v1/resolve names for their version.
 */

export type LoginAnswer =
  | { action: 'connect'; service: string; version: string; address: string; port: number; process?: string }
  | { action: 'upgrade'; service: string; targetVersion: string };

export async function login(routerUrl: string, body: { service: string; version: string; terminal: string }): Promise<LoginAnswer> {
  const response = await fetch(`${routerUrl}/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const answer = (await response.json()) as LoginAnswer;
  if (response.status !== 200) throw new Error(`login of ${body.terminal} (${body.version}) answered ${response.status}: ${JSON.stringify(answer)}`);
  return answer;
}

export async function resolveVersion(routerUrl: string, service: string, version: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${routerUrl}/v1/resolve?service=${encodeURIComponent(service)}&version=${encodeURIComponent(version)}`, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.json() };
}

export class Terminal {
  socket: WebSocket | undefined;
  /** Where the session is held. */
  session: { address: string; port: number; version: string } | undefined;
  /** How the last session ended: who closed it, and the code. */
  closed: { by: 'client' | 'server'; code: number } | undefined;
  private closing = false;
  private readonly inbox: string[] = [];
  private readonly waiters: Array<(message: string | null) => void> = [];

  constructor(
    private readonly routerUrl: string,
    readonly service: string,
    readonly id: string,
    public version: string,
  ) {}

  login(): Promise<LoginAnswer> {
    return login(this.routerUrl, { service: this.service, version: this.version, terminal: this.id });
  }

  /** Logs in; on a version-change message changes version and logs in again; then opens the session. */
  async connect(): Promise<{ upgradedFrom?: string }> {
    let answer = await this.login();
    let upgradedFrom: string | undefined;
    if (answer.action === 'upgrade') {
      upgradedFrom = this.version;
      this.version = answer.targetVersion;
      answer = await this.login();
    }
    if (answer.action !== 'connect') throw new Error(`${this.id} was told to change version twice: ${JSON.stringify(answer)}`);
    await this.open(answer.address, answer.port);
    return upgradedFrom === undefined ? {} : { upgradedFrom };
  }

  /** Opens the WebSocket session at a process, as a terminal told to connect there does. */
  open(address: string, port: number): Promise<void> {
    this.closed = undefined;
    this.closing = false;
    const socket = new WebSocket(`ws://${address}:${port}/session?version=${encodeURIComponent(this.version)}&terminal=${encodeURIComponent(this.id)}`);
    this.socket = socket;
    this.session = { address, port, version: this.version };
    socket.on('message', (data) => {
      const text = data.toString();
      const waiter = this.waiters.shift();
      if (waiter !== undefined) waiter(text);
      else this.inbox.push(text);
    });
    socket.on('close', (code) => {
      this.closed = { by: this.closing ? 'client' : 'server', code };
      for (const waiter of this.waiters.splice(0)) waiter(null);
    });
    socket.on('error', () => undefined);
    return new Promise((done, fail) => {
      socket.once('open', () => done());
      socket.once('close', (code) => fail(new Error(`${this.id}: the session at ${address}:${port} closed before opening (${code})`)));
    });
  }

  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Sends a message on the session; resolves with the process's echo ({version, echo}). */
  async echo(text: string, timeoutMs = 5000): Promise<{ version: string; echo: string }> {
    if (this.socket === undefined || !this.connected) throw new Error(`${this.id} holds no open session`);
    this.socket.send(text);
    const reply = this.inbox.shift() ?? (await new Promise<string | null>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`${this.id}: no echo within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((m) => {
        clearTimeout(timer);
        done(m);
      });
    }));
    if (reply === null) throw new Error(`${this.id}: the session closed before the echo (${JSON.stringify(this.closed)})`);
    return JSON.parse(reply) as { version: string; echo: string };
  }

  /** A request for its own version: resolve at the router, then straight to the process. */
  async request(path = '/api/ping'): Promise<{ version: string; process: string; port: number }> {
    const resolved = await resolveVersion(this.routerUrl, this.service, this.version);
    if (resolved.status !== 200) throw new Error(`${this.id}: resolve of ${this.version} answered ${resolved.status}: ${JSON.stringify(resolved.body)}`);
    const response = await fetch(`http://${resolved.body.address}:${resolved.body.port}${path}`, { signal: AbortSignal.timeout(5000) });
    const body = (await response.json()) as { version: string; process: string };
    return { ...body, port: resolved.body.port };
  }

  /** Ends the session from the terminal's side (code 1000) and waits for the close. */
  async close(): Promise<void> {
    const socket = this.socket;
    if (socket === undefined || socket.readyState === WebSocket.CLOSED) return;
    this.closing = true;
    const gone = new Promise<void>((done) => socket.once('close', () => done()));
    socket.close(1000, 'terminal leaves');
    await gone;
  }

  /** Drops the socket without waiting (clean-up). */
  terminate(): void {
    this.closing = true;
    this.socket?.terminate();
  }
}
