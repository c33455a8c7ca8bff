import { listenAddress } from '../../config/fields.js';
import { usageError } from '../../core/errors.js';
import { nginxConfig } from '../../haproxy/nginx-config.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';

export const run: CommandModule['run'] = async (ctx, _args, options) => {
  const { loaded, store } = await openProject(ctx);
  const policy = await store.read();
  let listen;
  if (options.listen !== undefined) {
    const parsed = listenAddress.safeParse(options.listen);
    if (!parsed.success) throw usageError('invalid_listen', `--listen: "${String(options.listen)}" is not a "host:port" like 0.0.0.0:8080.`);
    listen = parsed.data;
  }
  const r = loaded.config.router;
  const text = nginxConfig(policy, { versionHeader: r.versionHeader, serviceHeader: r.serviceHeader, router: r.listen, ...(listen ? { listen } : {}) });
  ctx.out.result({ generation: policy.generation, config: text });
  if (!ctx.out.json) process.stdout.write(text);
};
