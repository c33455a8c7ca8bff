import { describe, expect, it } from 'vitest';
import { checkPolicy } from '../../src/core/policy-schema.js';
import { designExamplePolicy } from '../fixtures/design-policy.js';

/** The policy file as people may write it: the DESIGN.md example, defaults, and problems by dotted path. */

describe('checkPolicy', () => {
  const DESIGN_EXAMPLE = designExamplePolicy();
  const minimal = () => ({ schema: 1, generation: 0, services: { lobby: { processes: [{ id: 'lobby@1.0.0#0', version: '1.0.0', address: '127.0.0.1', port: 7500, state: 'active' }] } } });

  it('loads the DESIGN.md example unchanged', () => {
    expect(checkPolicy(DESIGN_EXAMPLE)).toEqual({ ok: true, policy: DESIGN_EXAMPLE });
  });

  it('fills in defaults for a minimal hand-written file', () => {
    const result = checkPolicy(minimal());
    expect(result.ok && result.policy.services.lobby).toEqual({
      target: null,
      canary: null,
      match: 'exact',
      login: 'force',
      processes: [{ id: 'lobby@1.0.0#0', version: '1.0.0', host: 'local', address: '127.0.0.1', port: 7500, state: 'active' }],
    });
  });

  type Breaker = (p: ReturnType<typeof minimal> & Record<string, any>) => unknown;
  it.each<[string, Breaker, string]>([
    ['port 0', (p) => { p.services.lobby.processes[0]!.port = 0; return p; }, 'services.lobby.processes.0.port'],
    ['version with a v', (p) => { p.services.lobby.processes[0]!.version = 'v1.0.0'; return p; }, 'services.lobby.processes.0.version'],
    ['unknown state', (p) => { p.services.lobby.processes[0]!.state = 'zombie'; return p; }, 'services.lobby.processes.0.state'],
    ['id names another version', (p) => { p.services.lobby.processes[0]!.id = 'lobby@2.0.0#0'; return p; }, 'services.lobby.processes.0.id'],
    ['id names another service', (p) => { p.services.lobby.processes[0]!.id = 'chat@1.0.0#0'; return p; }, 'services.lobby.processes.0.id'],
    ['duplicate id', (p) => { p.services.lobby.processes.push({ ...p.services.lobby.processes[0]!, port: 7501 }); return p; }, 'services.lobby.processes.1.id'],
    ['target not semver', (p) => ({ ...p, services: { lobby: { ...p.services.lobby, target: 'latest' } } }), 'services.lobby.target'],
    ['canary weight 150', (p) => ({ ...p, services: { lobby: { ...p.services.lobby, canary: { version: '1.0.0', weight: 150 } } } }), 'services.lobby.canary.weight'],
    ['bad since', (p) => { (p.services.lobby.processes[0] as Record<string, unknown>).since = 'yesterday'; return p; }, 'services.lobby.processes.0.since'],
    ['schema 2', (p) => ({ ...p, schema: 2 }), 'schema'],
    ['missing generation', (p) => ({ ...p, generation: undefined }), 'generation'],
    ['bad service name', (p) => ({ ...p, services: { 'lob by': {} } }), 'services.lob by'],
    ['not an object', () => null, '(top level)'],
  ])('lists a problem for %s at its dotted path', (_label, breaker, path) => {
    const result = checkPolicy(breaker(minimal()));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.map((x) => x.path)).toContain(path);
  });

  it('lists every problem, not just the first', () => {
    const broken = minimal() as any;
    broken.services.lobby.processes[0].port = -1;
    broken.services.lobby.target = 'nope';
    const result = checkPolicy(broken);
    expect(result.ok ? [] : result.problems.map((x) => x.path).sort()).toEqual(['services.lobby.processes.0.port', 'services.lobby.target']);
  });
});
