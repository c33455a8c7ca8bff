/** The web view's styles (served as /ui/app.css). */
export const PAGE_CSS = `
:root { --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #f8fafc; --card: #fff; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 17px; margin: 0 8px 0 0; }
h3 { font-size: 13px; color: var(--muted); font-weight: 600; margin: 16px 0 4px; }
code { background: #eef2f7; padding: 1px 4px; border-radius: 3px; }
.top { display: flex; gap: 16px; align-items: baseline; padding: 12px 24px; background: #0f172a; color: #f8fafc; }
.top .muted { color: #cbd5e1; }
.live { margin-left: auto; font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #475569; }
.live[data-state="live"] { background: #15803d; }
.live[data-state="down"] { background: #b91c1c; }
main, .history { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
.service { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 20px 0; }
.head { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; margin-bottom: 10px; }
.tag { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #eef2f7; white-space: nowrap; }
.tag.target { background: #dbeafe; color: #1e40af; }
.tag.canary { background: #fef3c7; color: #92400e; }
.muted { color: var(--muted); }
table.versions { width: 100%; border-collapse: collapse; }
.versions th { text-align: left; font-size: 12px; color: var(--muted); font-weight: 600; border-bottom: 1px solid var(--line); padding: 6px 8px; }
.versions td { border-bottom: 1px solid var(--line); padding: 8px; vertical-align: top; }
.versions tr.retired { opacity: 0.5; }
.ver { white-space: nowrap; }
.ver .tag { margin-left: 6px; }
.vname { font-weight: 600; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.num { text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
.state { display: inline-block; font-size: 12px; padding: 1px 8px; border-radius: 10px; margin: 0 4px 2px 0; background: #e5e7eb; }
.s-active { background: #dcfce7; color: #166534; }
.s-starting { background: #e0f2fe; color: #075985; }
.s-draining { background: #fef3c7; color: #92400e; }
.s-stopping { background: #ffedd5; color: #9a3412; }
.s-failed { background: #fee2e2; color: #991b1b; }
.s-retired { background: #f3f4f6; color: #6b7280; }
.share { display: inline-flex; align-items: center; gap: 6px; }
.bar { display: inline-block; width: 120px; height: 8px; border-radius: 4px; background: #e5e7eb; overflow: hidden; }
.bar .fill { display: block; height: 100%; background: var(--accent); }
.pct { font-size: 12px; color: var(--muted); min-width: 34px; font-variant-numeric: tabular-nums; }
.procs { list-style: none; margin: 0; padding: 0; }
.procs li { display: flex; flex-wrap: wrap; gap: 4px 12px; font-size: 12px; padding: 2px 0; }
.procs li.stale .hb { color: #b45309; font-weight: 600; }
.pid { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.pm2, .hb, .pterm { color: var(--muted); }
.chart { min-height: 180px; }
.tally { font-size: 13px; color: var(--muted); margin: 6px 0 0; }
.history h2 { margin: 24px 0 8px; }
.history ol { list-style: none; padding: 0; margin: 0 0 40px; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
.history li { display: flex; gap: 12px; padding: 6px 12px; border-bottom: 1px solid var(--line); font-size: 13px; }
.history li:last-child { border-bottom: 0; }
.history .gen { font-weight: 600; min-width: 40px; }
.history time { color: var(--muted); min-width: 170px; }
.problem { color: #b91c1c; }
.login { max-width: 420px; margin: 80px auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 24px; }
.login form { display: flex; flex-direction: column; gap: 8px; margin-top: 12px; }
.login input { font: inherit; padding: 8px; border: 1px solid #cbd5e1; border-radius: 6px; }
.login button { font: inherit; padding: 8px; border: 0; border-radius: 6px; background: var(--accent); color: #fff; cursor: pointer; }
`;
