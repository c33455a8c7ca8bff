import { it } from 'vitest';
import { World } from './model-world.js';
import { prune } from '../../src/ops/prune.js';
it('dbg', async () => {
  const actions = JSON.parse(process.env.ACTIONS!);
  const w = await World.create(15000, Number(process.env.ROUTERS ?? 1));
  try {
    for (const [i, a] of actions.entries()) {
      await w.run(a); await w.check(`step ${i}`);
      const h = await w.store.peek();
      console.log(i, JSON.stringify(a).slice(0, 120), '=> g', h.generation, 'ack', h.acknowledged?.through, 'target', h.services.lobby?.target, JSON.stringify(h.services.lobby?.processes.map((p) => `${p.id} ${p.state}${w.pm2.running.has(p.id) ? ' R' : ''}`)), 'viol', w.violations.length);
    }
    await w.converge(async () => { console.log('PRUNE ack', w.regressedFrom); await w.command('prune', {}, async (deps) => console.log('PRUNED', JSON.stringify(await prune(deps, { remove: true, confirmed: true, pauseMs: 2, ...(w.regressedFrom >= 0 ? { acknowledge: w.regressedFrom } : {}) })))); });
    const h = await w.store.peek();
    console.log('final g', h.generation, 'ack', h.acknowledged?.through, 'target', h.services.lobby?.target, JSON.stringify(h.services.lobby?.processes.map((p) => `${p.id} ${p.state} ${p.reason ?? ''}${w.pm2.running.has(p.id) ? ' R' : ''}`)));
    console.log('VIOL', JSON.stringify(w.violations, null, 1));
  } finally { await w.close(); }
}, 60000);
