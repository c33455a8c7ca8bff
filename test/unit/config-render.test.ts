import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS } from '../../src/config/defaults.js';
import { loadConfig } from '../../src/config/load.js';
import { renderConfig } from '../../src/config/render.js';
import { project, removeProjects, YAML_FILE } from '../helpers/config-project.js';

// What `init` writes must load back unchanged, whatever the answers.
afterAll(removeProjects);

describe('renderConfig', () => {
  it.each([
    { service: 'lobby', script: 'releases/{version}/server.js', ports: '7500-7599', listen: '127.0.0.1:7400' },
    { service: 'match_maker-2', script: 'srv/{version}/main.js', ports: '9100-9150', listen: '127.0.0.1:9099' },
    { service: 'x', script: 'apps/#1: odd/{version}.js', ports: '8000', listen: '[::1]:7400' },
  ])('writes a commented config that loads back: %o', async (answers) => {
    const text = renderConfig(answers);
    expect(text).toContain('# ');
    const dir = await project({ [YAML_FILE]: text });
    const { config, warnings } = await loadConfig({ cwd: dir, env: {} });
    const service = config.services[answers.service];
    expect(service?.script).toBe(answers.script);
    const [from, to = from] = answers.ports.split('-').map(Number);
    expect(service?.ports).toEqual({ from, to });
    expect(config.router.listen.port).toBe(Number(answers.listen.split(':').pop()));
    expect(config.router.heartbeatIntervalMs).toBe(5000);
    expect(config.services[answers.service]?.drain.timeoutMs).toBe(30 * 60_000);
    expect(config.stateDir).toBe(join(dir, CONFIG_DEFAULTS.state));
    expect(warnings.filter((w) => !w.includes('port(s) fit only one version'))).toEqual([]);
  });
});
