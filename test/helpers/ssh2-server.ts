import { spawn } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import type { Connection, ParsedKey, ServerChannel } from 'ssh2';

/**
 * An SSH server inside the test process, for machines without sshd: the
 * `ssh2` package's Server on 127.0.0.1, public-key auth against one key,
 * and every exec request run here with `sh -c` (as sshd runs it through the
 * user's shell) in the host's home with HOME set to it. The client is still
 * the system `ssh`, so the protocol and the client are the real ones.
 */

const { Server, utils } = ssh2;

export interface InProcessSshdOptions {
  port: number;
  /** The host's $HOME: the command's HOME and working folder. */
  home: string;
  user: string;
  /** OpenSSH private key text of the host key. */
  hostKey: string;
  /** OpenSSH public key text (`ssh-ed25519 AAAA...`) that may log in. */
  authorizedKey: string;
}

export class InProcessSshd {
  /** Logins accepted with a verified signature (sshd's "Accepted publickey"). */
  sessions = 0;
  private server: InstanceType<typeof Server> | undefined;
  private readonly clients = new Set<Connection>();
  private readonly allowed: ParsedKey;

  constructor(private readonly opts: InProcessSshdOptions) {
    const parsed = utils.parseKey(opts.authorizedKey);
    if (parsed instanceof Error) throw parsed;
    this.allowed = Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
  }

  running(): boolean {
    return this.server?.listening === true;
  }

  async start(): Promise<void> {
    const server = new Server({ hostKeys: [this.opts.hostKey] }, (client) => this.serve(client));
    this.server = server;
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(this.opts.port, '127.0.0.1', () => {
        server.off('error', fail);
        done();
      });
    });
    if ((server.address() as AddressInfo).port !== this.opts.port) throw new Error('ssh2 server bound the wrong port');
  }

  /** Stops listening and drops the open connections, as a host going down would. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    const closed = new Promise<void>((done) => server.close(() => done()));
    for (const client of this.clients) client.end();
    await closed;
  }

  private serve(client: Connection): void {
    this.clients.add(client);
    client.on('close', () => this.clients.delete(client));
    client.on('error', () => {});
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey' || ctx.username !== this.opts.user || !this.isAllowed(ctx.key.algo, ctx.key.data)) {
        ctx.reject(['publickey']);
        return;
      }
      // Without a signature the client only asks whether this key would do.
      if (ctx.signature === undefined) return ctx.accept();
      if (this.allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(['publickey']);
      this.sessions += 1;
      ctx.accept();
    });
    client.on('ready', () => {
      client.on('session', (accept) => {
        const session = accept();
        // Environment requests are ignored, as sshd without AcceptEnv does.
        session.on('env', (acceptEnv) => acceptEnv?.());
        session.on('exec', (acceptExec, _reject, info) => this.exec(acceptExec(), info.command));
      });
    });
  }

  private isAllowed(algo: string, data: Buffer): boolean {
    const mine = this.allowed.getPublicSSH();
    return algo === this.allowed.type && data.length === mine.length && timingSafeEqual(data, mine);
  }

  private exec(channel: ServerChannel, command: string): void {
    const { home, user } = this.opts;
    // A small environment, like sshd's: PATH stays so `node` and `pm2` are found.
    const env = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: home, USER: user, LOGNAME: user, SHELL: '/bin/sh', LANG: 'C.UTF-8' };
    const child = spawn('/bin/sh', ['-c', command], { cwd: home, env, stdio: 'pipe' });
    child.stdin.on('error', () => {});
    channel.on('error', () => {});
    channel.pipe(child.stdin);
    child.stdout.pipe(channel, { end: false });
    child.stderr.pipe(channel.stderr, { end: false });
    child.on('error', (error) => {
      channel.stderr.write(`sh: ${error.message}\n`);
      channel.exit(127);
      channel.end();
    });
    child.on('close', (code, signal) => {
      if (signal !== null) channel.exit(signal.replace(/^SIG/, ''), false, '');
      else channel.exit(code ?? 255);
      channel.end();
    });
    // The client went away: the command loses its pipes (as under sshd) but is not killed.
    channel.on('close', () => {
      child.stdout.unpipe(channel);
      child.stderr.unpipe(channel.stderr);
      child.stdin.destroy();
      child.stdout.destroy();
      child.stderr.destroy();
    });
  }
}

/** An ed25519 key pair in OpenSSH format (what `ssh-keygen -t ed25519` writes). */
export function makeKeyPair(comment: string): { privateKey: string; publicKey: string } {
  // ssh2's generator strips leading zero bytes from an ed25519 public key, so about 1 key in 256
  // cannot be parsed back (mscdex/ssh2#1513): generate again until both halves parse.
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const pair = utils.generateKeyPairSync('ed25519', { comment });
    if (!(utils.parseKey(pair.public) instanceof Error) && !(utils.parseKey(pair.private) instanceof Error)) return { privateKey: pair.private, publicKey: pair.public };
  }
  throw new Error('ssh2 generated 50 ed25519 key pairs in a row that it cannot parse back');
}
