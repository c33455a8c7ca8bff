/**
 * The web view's rollout panel: functions spliced into app.js (page-js.ts),
 * in its closure, so they share `h` and `duration`. For a service with a
 * rollout: the state, the step and the time left in its pause, the plan as
 * a row of steps, the reason, a strip of the recent verdicts, and one
 * small uPlot chart per figure (requests, error rate, p99, restarts) over
 * the verdicts the policy keeps. Built with textContent only.
 */
export const ROLLOUT_JS = String.raw`
  var FIGURES = [
    { key: 'requests', label: 'requests', value: function (v) { return v.requests; } },
    { key: 'errorRate', label: 'error rate %', value: function (v) { return v.requests ? (100 * v.errors) / v.requests : null; } },
    { key: 'p99', label: 'p99 ms', value: function (v) { return v.p99Ms; } },
    { key: 'restarts', label: 'restarts', value: function (v) { return v.restarts; } },
  ];
  var VERDICT_COLOURS = { pass: '#16a34a', fail: '#dc2626', inconclusive: '#9ca3af' };

  function pauseText(r) {
    if (r.state !== 'progressing') return '';
    if (r.pauseLeftMs > 0) return ', held ' + duration(r.pauseLeftMs) + ' more';
    return ', its pause is over: on at the next passing interval';
  }

  function stepsRow(r) {
    return h('ol', { className: 'steps' }, r.steps.map(function (s, i) {
      var kind = i < r.step || r.state === 'completed' ? 'done' : i === r.step ? (r.state === 'aborted' ? 'stopped' : 'now') : 'todo';
      return h('li', { className: 'step ' + kind, 'data-step': String(i + 1) }, [
        h('span', { className: 'w', text: s.canary + '%' }),
        h('span', { className: 'p', text: s.pauseMs > 0 ? duration(s.pauseMs) : '-' }),
      ]);
    }));
  }

  function verdictStrip(r) {
    return h('ol', { className: 'verdicts' }, r.recent.map(function (v) {
      var el = h('li', { className: 'verdict v-' + v.verdict, 'data-verdict': v.verdict, title: new Date(v.at).toLocaleTimeString() + ': ' + v.reason });
      el.style.background = VERDICT_COLOURS[v.verdict] || '#9ca3af';
      return el;
    }));
  }

  function drawFigure(panel, figure, r) {
    var holder = panel.charts[figure.key];
    var data = [r.recent.map(function (v) { return Date.parse(v.at) / 1000; }), r.recent.map(figure.value)];
    var plot = panel.plots[figure.key];
    if (plot) { plot.setData(data); return; }
    if (typeof uPlot !== 'function') { holder.textContent = 'the chart library did not load'; return; }
    panel.plots[figure.key] = new uPlot({
      width: 230, height: 110, legend: { show: false }, cursor: { show: false },
      // A little room at both ends, so the first and last points are not cut in half.
      scales: { x: { time: true, range: function (u, min, max) { var pad = Math.max(1, (max - min) * 0.06); return [min - pad, max + pad]; } }, y: { range: function (u, min, max) { return [0, Math.max(1, max || 0) * 1.1]; } } },
      axes: [{ show: false }, { size: 40, font: '10px system-ui' }],
      series: [{}, { label: figure.label, stroke: '#2563eb', width: 2, points: { show: true, size: 5 } }],
    }, data, holder);
  }

  function rolloutPanel(c) {
    if (c.rollout) return c.rollout;
    var el = h('div', { className: 'rollout' });
    var panel = { el: el, title: h('p', { className: 'rtitle' }), steps: h('div'), reason: h('p', { className: 'reason' }), strip: h('div'), charts: {}, plots: {}, id: null };
    var figures = h('div', { className: 'figures' }, FIGURES.map(function (f) {
      panel.charts[f.key] = h('div', { className: 'figure-chart', 'data-figure': f.key });
      return h('div', { className: 'figure' }, [h('span', { className: 'flabel', text: f.label }), panel.charts[f.key]]);
    }));
    [h('h3', { text: 'Rollout' }), panel.title, panel.steps, panel.reason, panel.strip, figures].forEach(function (x) { el.appendChild(x); });
    c.el.insertBefore(el, c.table);
    c.rollout = panel;
    return panel;
  }

  function drawRollout(c, r) {
    if (!r) { if (c.rollout) { c.rollout.el.remove(); c.rollout = null; } return; }
    var panel = rolloutPanel(c);
    if (panel.id !== r.id) {
      Object.keys(panel.plots).forEach(function (k) { panel.plots[k].destroy(); });
      panel.plots = {};
      Object.keys(panel.charts).forEach(function (k) { panel.charts[k].textContent = ''; });
      panel.id = r.id;
    }
    var step = r.steps[r.step];
    panel.el.dataset.state = r.state;
    panel.title.replaceChildren(
      h('span', { className: 'rstate s-' + r.state, 'data-rollout-state': r.state, text: r.state }),
      h('span', { 'data-rollout-step': String(r.step + 1), text: ' ' + r.version + (r.from ? ' from ' + r.from : '') + ': step ' + (r.step + 1) + ' of ' + r.steps.length + ', canary ' + step.canary + '%' + pauseText(r) })
    );
    panel.steps.replaceChildren(stepsRow(r));
    panel.reason.textContent = r.reason || '';
    panel.reason.hidden = !r.reason;
    panel.strip.replaceChildren(verdictStrip(r));
    FIGURES.forEach(function (f) { drawFigure(panel, f, r); });
  }
`;

/** Its styles, appended to app.css. */
export const ROLLOUT_CSS = `
.rollout { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin: 0 0 12px; background: #fcfcfd; }
.rollout h3 { margin-top: 0; }
.rtitle { margin: 0 0 6px; }
.rstate { font-size: 12px; padding: 1px 8px; border-radius: 10px; background: #e5e7eb; text-transform: uppercase; }
.rstate.s-progressing { background: #dbeafe; color: #1e40af; }
.rstate.s-paused { background: #fef3c7; color: #92400e; }
.rstate.s-aborted { background: #fee2e2; color: #991b1b; }
.rstate.s-completed { background: #dcfce7; color: #166534; }
.steps { list-style: none; display: flex; gap: 4px; padding: 0; margin: 0 0 6px; }
.step { display: flex; flex-direction: column; align-items: center; min-width: 56px; padding: 2px 6px; border-radius: 4px; background: #f3f4f6; font-size: 12px; }
.step.done { background: #dcfce7; }
.step.now { background: #dbeafe; outline: 2px solid var(--accent); }
.step.stopped { background: #fee2e2; }
.step .p { color: var(--muted); }
.reason { font-size: 13px; margin: 0 0 6px; }
.verdicts { list-style: none; display: flex; gap: 3px; padding: 0; margin: 0 0 6px; }
.verdict { width: 14px; height: 14px; border-radius: 3px; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; }
.figure { display: flex; flex-direction: column; }
.flabel { font-size: 12px; color: var(--muted); }
.figure-chart { min-height: 110px; min-width: 230px; }
`;
