import { ROLLOUT_JS } from './page-rollout-js.js';

/**
 * The web view's script (served as /ui/app.js): polls /ui/data every second
 * and draws each service, with its rollout (page-rollout-js.ts). Plain
 * ES2017 in a string so users need no build step; it builds the page with
 * textContent only (service names and versions come from the policy file
 * and are never parsed as HTML).
 */
export const PAGE_JS = String.raw`(function () {
  'use strict';
  var POLL_MS = 1000;
  var STATE_ORDER = ['active', 'starting', 'draining', 'stopping', 'failed', 'retired'];
  var COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#475569'];
  var colours = {};
  var cards = {};

  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') el.textContent = attrs[k];
      else if (k === 'className') el.className = attrs[k];
      else el.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) el.appendChild(c); });
    return el;
  }

  function colour(version) {
    if (!colours[version]) colours[version] = COLORS[Object.keys(colours).length % COLORS.length];
    return colours[version];
  }

  function duration(ms) {
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + ' s';
    if (ms < 3600000) return Math.floor(ms / 60000) + ' min ' + Math.round((ms % 60000) / 1000) + ' s';
    return Math.floor(ms / 3600000) + ' h ' + Math.round((ms % 3600000) / 60000) + ' min';
  }

  function compareVersions(a, b) {
    var pa = a.split(/[.+-]/), pb = b.split(/[.+-]/);
    for (var i = 0; i < 3; i++) {
      var d = (Number(pb[i]) || 0) - (Number(pa[i]) || 0);
      if (d !== 0) return d;
    }
    return a < b ? 1 : a > b ? -1 : 0;
  }

  function pm2Text(p) {
    var v = p.pm2;
    if (v === undefined) return 'PM2 not asked';
    if (v === null) return 'not in PM2';
    if (typeof v.unreachable === 'string') return v.unreachable;
    var parts = ['PM2 ' + v.status];
    if (typeof v.cpu === 'number') parts.push(v.cpu + '% cpu');
    if (typeof v.memory === 'number') parts.push(Math.round(v.memory / 1048576) + ' MB');
    if (v.restarts > 0) parts.push(v.restarts + ' restarts');
    return parts.join(' · ');
  }

  function heartbeatText(p) {
    if (p.state === 'retired') return '-';
    if (p.heartbeat.ageMs === null) return 'never';
    return (p.heartbeat.stale ? 'stale, ' : '') + duration(p.heartbeat.ageMs) + ' ago';
  }

  function shareBar(share) {
    var pct = Math.round(share * 100);
    var fill = h('span', { className: 'fill' });
    fill.style.width = pct + '%';
    return h('span', { className: 'share' }, [h('span', { className: 'bar' }, [fill]), h('span', { className: 'pct', text: pct + '%' })]);
  }

  function versionsTable(name, svc) {
    var versions = [];
    svc.processes.forEach(function (p) { if (versions.indexOf(p.version) === -1) versions.push(p.version); });
    versions.sort(compareVersions);
    var live = svc.processes.filter(function (p) { return p.state !== 'retired'; });
    var total = live.reduce(function (n, p) { return n + p.terminals; }, 0);
    var body = h('tbody');
    versions.forEach(function (version) {
      var mine = svc.processes.filter(function (p) { return p.version === version; });
      var states = [];
      mine.forEach(function (p) { if (states.indexOf(p.state) === -1) states.push(p.state); });
      states.sort(function (a, b) { return STATE_ORDER.indexOf(a) - STATE_ORDER.indexOf(b); });
      var terminals = mine.filter(function (p) { return p.state !== 'retired'; }).reduce(function (n, p) { return n + p.terminals; }, 0);
      var tags = [];
      if (version === svc.target) tags.push(h('span', { className: 'tag target', text: 'target' }));
      if (svc.canary && svc.canary.version === version) tags.push(h('span', { className: 'tag canary', text: 'canary ' + svc.canary.weight + '%' }));
      var procs = h('ul', { className: 'procs' }, mine.map(function (p) {
        return h('li', { 'data-process': p.id, className: p.heartbeat.stale && p.state !== 'retired' ? 'stale' : '' }, [
          h('span', { className: 'pid', text: p.id }),
          h('span', { text: p.host + ' · ' + p.address + ':' + p.port }),
          h('span', { className: 'pm2', text: pm2Text(p) }),
          h('span', { className: 'hb', text: 'heartbeat ' + heartbeatText(p) }),
          h('span', { className: 'pterm', text: p.terminals + ' terminals' }),
        ]);
      }));
      var swatch = h('span', { className: 'swatch' });
      swatch.style.background = colour(version);
      body.appendChild(h('tr', { 'data-version': version, className: states.length === 1 && states[0] === 'retired' ? 'retired' : '' }, [
        h('td', { className: 'ver' }, [swatch, h('span', { className: 'vname', text: version })].concat(tags)),
        h('td', {}, states.map(function (s) { return h('span', { className: 'state s-' + s, 'data-state': s, text: s }); })),
        h('td', { className: 'num terminals', 'data-terminals': String(terminals), text: String(terminals) }),
        h('td', {}, [shareBar(total === 0 ? 0 : terminals / total)]),
        h('td', {}, [procs]),
      ]));
    });
    if (versions.length === 0) body.appendChild(h('tr', {}, [h('td', { colspan: '5', className: 'muted', text: 'no processes yet: run switchyard deploy <version>' })]));
    return h('table', { className: 'versions' }, [
      h('thead', {}, [h('tr', {}, ['version', 'state', 'terminals', 'share', 'processes'].map(function (t) { return h('th', { text: t }); }))]),
      body,
    ]);
  }

${ROLLOUT_JS}
  function chartData(series) {
    var versions = Object.keys(series.versions).sort(compareVersions);
    return { versions: versions, data: [series.t.map(function (t) { return t / 1000; })].concat(versions.map(function (v) { return series.versions[v]; })) };
  }

  function drawChart(name, card, series) {
    var holder = card.chart;
    var cd = chartData(series || { t: [], versions: {} });
    var key = cd.versions.join(',');
    var width = Math.max(280, holder.clientWidth || 600);
    if (card.plot && card.plotKey === key) {
      card.plot.setData(cd.data);
      if (Math.abs(card.plot.width - width) > 4) card.plot.setSize({ width: width, height: 180 });
      return;
    }
    if (card.plot) card.plot.destroy();
    holder.textContent = '';
    card.plotKey = key;
    if (typeof uPlot !== 'function') { holder.textContent = 'the chart library did not load'; return; }
    card.plot = new uPlot({
      width: width,
      height: 180,
      legend: { live: false },
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(4, max)]; } } },
      axes: [{
        space: 90,
        incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600],
        values: function (u, ticks) { return ticks.map(function (t) { return new Date(t * 1000).toLocaleTimeString(); }); },
      }, { label: 'terminals', size: 50 }],
      series: [{}].concat(cd.versions.map(function (v) { return { label: v, stroke: colour(v), width: 2 }; })),
    }, cd.data, holder);
  }

  function card(name) {
    if (cards[name]) return cards[name];
    var el = h('section', { className: 'service', 'data-service': name });
    var c = { el: el, head: h('div', { className: 'head' }), table: h('div', { className: 'table' }), tally: h('p', { className: 'tally' }), chart: h('div', { className: 'chart' }) };
    el.appendChild(c.head);
    el.appendChild(c.table);
    el.appendChild(h('h3', { text: 'Terminals by their version, last minutes' }));
    el.appendChild(c.chart);
    el.appendChild(c.tally);
    document.getElementById('services').appendChild(el);
    cards[name] = c;
    return c;
  }

  function render(data) {
    var status = data.status;
    document.getElementById('generation').textContent = 'policy generation ' + (status.generation === null ? '-' : status.generation) + (status.policy.fileBroken ? ' (the policy file is broken: ' + status.policy.error + ')' : '');
    var names = Object.keys(status.services);
    Object.keys(cards).forEach(function (n) { if (names.indexOf(n) === -1) { cards[n].el.remove(); delete cards[n]; } });
    if (names.length === 0) document.getElementById('services').textContent = 'no services in the policy yet';
    names.forEach(function (name) {
      var svc = status.services[name];
      var c = card(name);
      c.head.replaceChildren(
        h('h2', { text: name }),
        h('span', { className: 'tag target', 'data-target': svc.target || '', text: 'target ' + (svc.target || 'none') }),
        h('span', { className: 'tag ' + (svc.canary ? 'canary' : 'muted'), text: svc.canary ? 'canary ' + svc.canary.version + ' at ' + svc.canary.weight + '%' : 'no canary' })
      );
      drawRollout(c, svc.rollout);
      c.table.replaceChildren(versionsTable(name, svc));
      c.tally.textContent = svc.tally.length === 0 ? 'no terminals reported' : 'now: ' + svc.tally.map(function (t) { return t.version + ' ' + t.terminals + ' (' + Math.round(t.share * 100) + '%)'; }).join(', ');
      drawChart(name, c, data.series[name]);
    });
    var list = document.getElementById('history');
    list.replaceChildren.apply(list, data.history.revisions.map(function (r) {
      var what = r.broken ? 'unreadable: ' + r.broken : r.changes.length > 0 ? r.changes.join('; ') : r.generation === 0 ? 'created' : 'no change';
      return h('li', { 'data-generation': String(r.generation) }, [
        h('span', { className: 'gen', text: '#' + r.generation }),
        h('time', { text: r.updatedAt ? new Date(r.updatedAt).toLocaleString() : '-' }),
        h('span', { text: what }),
      ]);
    }));
    var err = document.getElementById('history-error');
    err.hidden = !data.history.error;
    err.textContent = data.history.error || '';
  }

  function setLive(state, text) {
    var el = document.getElementById('live');
    el.dataset.state = state;
    el.textContent = text;
  }

  function poll() {
    fetch('/ui/data', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) {
        if (r.status === 401) { location.reload(); throw new Error('signed out'); }
        if (!r.ok) throw new Error('the router answered ' + r.status);
        return r.json();
      })
      .then(function (data) {
        render(data);
        setLive('live', 'live · ' + new Date(data.now).toLocaleTimeString());
      })
      .catch(function (e) { setLive('down', 'not answering (' + e.message + ')'); })
      .then(function () { setTimeout(poll, POLL_MS); });
  }

  poll();
})();
`;
