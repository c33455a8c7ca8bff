import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { packageFile } from '../../package-root.js';
import { usageError } from '../../core/errors.js';
import { SERVICE_NAME } from '../../core/names.js';
import { parse as parseYaml } from 'yaml';
import { checkConfig, loadConfig } from '../../config/load.js';
import { renderConfig } from '../../config/render.js';
import { writeFileAtomic } from '../../store/atomic-write.js';
import { PolicyStore } from '../../store/policy-store.js';
import { ensureToken } from '../../store/token.js';
import { ask } from '../ask.js';
import type { CommandModule } from '../commands.js';

/** Config file names that count as "this folder already has a config". */
const CONFIG_NAMES = [
  'switchyard.config.yaml', 'switchyard.config.yml', 'switchyard.config.json', 'switchyard.config.js',
  'switchyard.config.mjs', 'switchyard.config.cjs', '.switchyardrc', '.switchyardrc.json',
  '.switchyardrc.yaml', '.switchyardrc.yml', '.switchyardrc.js', '.switchyardrc.mjs', '.switchyardrc.cjs',
];

function defaultServiceName(cwd: string): string {
  const name = basename(cwd).replace(/[^A-Za-z0-9_-]/g, '-').replace(/^[-_]+/, '').slice(0, 64);
  return SERVICE_NAME.test(name) ? name : 'app';
}

const TEMPLATES: Record<string, { from: string; script: string }> = {
  service: { from: packageFile('templates/service/server.mjs'), script: 'releases/{version}/server.mjs' },
};

export const run: CommandModule['run'] = async (ctx, _args, options) => {
  const templateName = options.template as string | undefined;
  const template = templateName === undefined ? undefined : Object.hasOwn(TEMPLATES, templateName) ? TEMPLATES[templateName] : undefined;
  if (templateName !== undefined && template === undefined) {
    throw usageError('unknown_template', `There is no template ${JSON.stringify(templateName)}: the templates are ${Object.keys(TEMPLATES).join(', ')}.`);
  }
  const configFile = resolve(ctx.cwd, ctx.options.config ?? 'switchyard.config.yaml');
  const existing = ctx.options.config !== undefined ? (existsSync(configFile) ? [configFile] : []) : CONFIG_NAMES.map((n) => join(ctx.cwd, n)).filter((p) => existsSync(p));
  if (existing.length > 0 && options.force !== true) {
    throw usageError('config_exists', `A config already exists at ${existing[0]}: pass --force to overwrite it, or edit it by hand.`);
  }

  const service = await ask(ctx, {
    flag: '--service', message: 'Service name', default: defaultServiceName(ctx.cwd),
    validate: (v) => (SERVICE_NAME.test(v) ? undefined : 'use letters, digits, "-" and "_" (at most 64)'),
  }, ctx.options.service);
  const script = await ask(ctx, {
    flag: '--script', message: 'Start script ({version} is replaced by the version)', default: template?.script ?? 'releases/{version}/server.js',
    validate: (v) => (v.trim() === '' ? 'a path to the script is needed' : undefined),
  }, options.script as string | undefined);
  const ports = await ask(ctx, {
    flag: '--ports', message: 'Port range for the service processes', default: '7500-7599',
    validate: (v) => (/^\d{1,5}(-\d{1,5})?$/.test(v) ? undefined : 'expected a port or a range like 7500-7599'),
  }, options.ports as string | undefined);
  const listen = await ask(ctx, {
    flag: '--listen', message: 'Router address (host:port)', default: '127.0.0.1:7400',
    validate: (v) => (/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(v) ? undefined : 'expected host:port, like 127.0.0.1:7400'),
  }, options.listen as string | undefined);

  // Every refusal comes before the first file is written: a refused init leaves nothing behind.
  const sample = template === undefined ? undefined : resolve(dirname(configFile), script.split('{version}').join('1.0.0'));
  if (sample !== undefined && existsSync(sample) && options.force !== true) throw usageError('file_exists', `${sample} already exists: pass --force to overwrite it.`);

  // The config is checked as every command will read it before it is written: a refused init leaves no file.
  const text = renderConfig({ service, script, ports, listen });
  checkConfig(parseYaml(text), configFile, { cwd: ctx.cwd, env: ctx.env });
  await writeFileAtomic(configFile, text);
  // Load what was written: the same checks every other command makes.
  const loaded = await loadConfig({ cwd: ctx.cwd, configPath: configFile, env: ctx.env });
  for (const warning of loaded.warnings) ctx.out.warn(warning);
  const store = new PolicyStore(loaded.config.stateDir);
  const policy = await store.init();
  const token = await ensureToken(loaded.config.stateDir);

  if (sample !== undefined && template !== undefined) {
    await mkdir(dirname(sample), { recursive: true });
    await copyFile(template.from, sample);
  }

  ctx.out.success(`wrote ${configFile}`);
  if (sample !== undefined) ctx.out.success(`wrote the sample service to ${sample} (it needs \`npm install switchyard ws\` in this project)`);
  ctx.out.success(`${policy.created ? 'created' : 'kept'} the policy at ${store.path}`);
  ctx.out.success(`${token.created ? 'created' : 'kept'} the token at ${token.path} (mode 0600)`);
  ctx.out.info(sample !== undefined
    ? 'next: `npm install switchyard ws`, then `switchyard router start` and `switchyard deploy 1.0.0`.'
    : `next: put version 1.0.0 of ${service} where the script says, then run \`switchyard router start\` and \`switchyard deploy 1.0.0\`.`);
  ctx.out.result({
    ok: true,
    config: configFile,
    stateDir: loaded.config.stateDir,
    policy: store.path,
    token: token.path,
    service,
    createdPolicy: policy.created,
    createdToken: token.created,
    sample: sample ?? null,
  });
};
