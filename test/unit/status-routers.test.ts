import { describe, expect, it } from 'vitest';
import { statusProblems } from '../../src/cli/status-problems.js';
import { renderStatus } from '../../src/cli/status-view.js';
import type { StatusBody } from '../../src/protocol/status-body.js';

function body(extra: Partial<StatusBody>): StatusBody {
  return {
    generation: 3,
    policy: { generation: 3, fileBroken: false, error: null } as StatusBody['policy'],
    services: { lobby: { target: '1.0.0', canary: null, processes: [], tally: [] } },
    ...extra,
  };
}

const routers = [
  { id: 'h:1', url: 'http://10.0.0.1:7400', leader: true, ageMs: 120 },
  { id: 'h:2', url: 'http://10.0.0.2:7400', leader: false, ageMs: 8200 },
];
const opts = { routerUp: true, routerUrl: 'http://10.0.0.1:7400', orphans: [] };

describe('status with several routers', () => {
  it('lists the routers, the leader marked, one not seen lately flagged', () => {
    const text = renderStatus(body({ routers }), { routerUp: true, showRetired: false });
    expect(text).toContain('routers: http://10.0.0.1:7400 (leader), http://10.0.0.2:7400');
    expect(text).toMatch(/10\.0\.0\.2:7400.*last seen 8\.2s ago/);
  });

  it('a router alone shows no routers line', () => {
    const text = renderStatus(body({ routers: [routers[0]!] }), { routerUp: true, showRetired: false });
    expect(text).not.toContain('routers:');
  });

  it('no leader, and a tally that is not fleet-wide, are problems for --check', () => {
    const problems = statusProblems(body({
      routers: routers.map((r) => ({ ...r, leader: false })),
      coordination: { redis: 'redis://ops:***@10.0.0.9:6379/0', ok: false, dataAgeMs: 4300, buffered: 12, dropped: 0, error: 'connect ECONNREFUSED 10.0.0.9:6379' },
    }), opts);
    expect(problems.map((p) => p.kind)).toEqual(['tally_not_shared', 'no_leader']);
    expect(problems[0]!.message).toContain('Redis at redis://ops:***@10.0.0.9:6379/0 is not answering (connect ECONNREFUSED 10.0.0.9:6379); heartbeats sent to other routers are 4.3 s old, and 12 heartbeats wait to be shared');
  });

  it('a healthy set of routers is no problem', () => {
    expect(statusProblems(body({ routers, coordination: { redis: 'redis://h:6379/0', ok: true, dataAgeMs: 80, buffered: 0, dropped: 0, error: null } }), opts)).toEqual([]);
  });
});
