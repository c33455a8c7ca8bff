import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { packageFile } from '../../package-root.js';
import { usageError } from '../../core/errors.js';
import { SERVICE_NAME } from '../../core/names.js';
import { parseDocument, parse as parseYaml } from 'yaml';
import { checkConfig } from '../../config/load.js';
import { renderConfig } from '../../config/render.js';
import { writeFileAtomic } from '../../store/atomic-write.js';
import { ask } from '../ask.js';
import type { CommandModule } from '../commands.js';
import type { Context } from '../context.js';
import type { Conversion } from '../ecosystem.js';
import { completeExisting, writeState } from '../init-state.js';

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

/** The config text for `init --from`: the usual commented config, with the ecosystem's apps as its services. */
async function fromEcosystem(ctx: Context, file: string, listen: string): Promise<{ text: string; conversion: Conversion }> {
  const { convertEcosystem, loadEcosystem } = await import('../ecosystem.js');
  const conversion = convertEcosystem(await loadEcosystem(resolve(ctx.cwd, file)), file);
  const [first] = conversion.services;
  const doc = parseDocument(renderConfig({ service: first!.name, script: String(first!.settings.script), ports: String(first!.settings.ports), listen }));
  for (const service of conversion.services) {
    for (const [key, value] of Object.entries(service.settings)) doc.setIn(['services', service.name, key], doc.createNode(value, { flow: typeof value === 'object' }));
  }
  return { text: doc.toString(), conversion };
}

function askListen(ctx: Context, given: string | undefined): Promise<string> {
  return ask(ctx, {
    flag: '--listen', message: 'Router address (host:port)', default: '127.0.0.1:7400',
    validate: (v) => (/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(v) ? undefined : 'expected host:port, like 127.0.0.1:7400'),
  }, given);
}

export const run: CommandModule['run'] = async (ctx, _args, options) => {
  if (options.from !== undefined && options.template !== undefined) {
    throw usageError('from_with_template', '--from takes the services from a PM2 ecosystem file and --template writes a sample one: use one of them.');
  }
  const templateName = options.template as string | undefined;
  const template = templateName === undefined ? undefined : Object.hasOwn(TEMPLATES, templateName) ? TEMPLATES[templateName] : undefined;
  if (templateName !== undefined && template === undefined) {
    throw usageError('unknown_template', `There is no template ${JSON.stringify(templateName)}: the templates are ${Object.keys(TEMPLATES).join(', ')}.`);
  }
  const configFile = resolve(ctx.cwd, ctx.options.config ?? 'switchyard.config.yaml');
  const existing = ctx.options.config !== undefined ? (existsSync(configFile) ? [configFile] : []) : CONFIG_NAMES.map((n) => join(ctx.cwd, n)).filter((p) => existsSync(p));
  // A config of its own is never touched without --force: init makes only what is missing of the state.
  if (existing.length > 0 && options.force !== true) return completeExisting(ctx, existing[0]!, options);

  if (typeof options.from === 'string') {
    const listen = await askListen(ctx, options.listen as string | undefined);
    const { text, conversion } = await fromEcosystem(ctx, options.from, listen);
    checkConfig(parseYaml(text), configFile, { cwd: ctx.cwd, env: ctx.env });
    await writeFileAtomic(configFile, text);
    ctx.out.success(`wrote ${configFile} with ${conversion.services.length} service${conversion.services.length === 1 ? '' : 's'} from ${options.from}: ${conversion.services.map((s) => s.name).join(', ')}`);
    const made = await writeState(ctx, configFile);
    for (const note of conversion.notes) ctx.out.warn(note);
    if (conversion.notCarried.length > 0) ctx.out.warn(`not carried over:\n${conversion.notCarried.map((n) => `  ${n}`).join('\n')}`);
    ctx.out.info('next: check the ports and scripts in the config, then run `switchyard router start` and `switchyard deploy <version>`.');
    ctx.out.result({ ok: true, config: configFile, ...made, services: conversion.services.map((s) => s.name), notCarried: conversion.notCarried, notes: conversion.notes, sample: null });
    return;
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
  const listen = await askListen(ctx, options.listen as string | undefined);

  // Every refusal comes before the first file is written: a refused init leaves nothing behind.
  const sample = template === undefined ? undefined : resolve(dirname(configFile), script.split('{version}').join('1.0.0'));
  if (sample !== undefined && existsSync(sample) && options.force !== true) throw usageError('file_exists', `${sample} already exists: pass --force to overwrite it.`);

  // The config is checked as every command will read it before it is written: a refused init leaves no file.
  const text = renderConfig({ service, script, ports, listen });
  checkConfig(parseYaml(text), configFile, { cwd: ctx.cwd, env: ctx.env });
  await writeFileAtomic(configFile, text);
  const made = await writeState(ctx, configFile);

  if (sample !== undefined && template !== undefined) {
    await mkdir(dirname(sample), { recursive: true });
    await copyFile(template.from, sample);
  }

  ctx.out.success(`wrote ${configFile}`);
  if (sample !== undefined) ctx.out.success(`wrote the sample service to ${sample} (it imports switchyard-cli and ws)`);
  // The sample imports switchyard-cli and ws: say to install them only when this project lacks them.
  const installed = ['switchyard-cli', 'ws'].every((name) => existsSync(join(dirname(configFile), 'node_modules', name, 'package.json')));
  ctx.out.info(sample !== undefined
    ? `next: ${installed ? '' : '`npm install switchyard-cli ws`, then '}\`switchyard router start\` and \`switchyard deploy 1.0.0\`.`
    : `next: put version 1.0.0 of ${service} where the script says, then run \`switchyard router start\` and \`switchyard deploy 1.0.0\`.`);
  ctx.out.result({
    ok: true,
    config: configFile,
    ...made,
    service,
    sample: sample ?? null,
  });
};
