import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Store } from '../../store/store.js';
import { PolicyStore } from '../../store/policy-store.js';
import { tokenMatches } from '../auth.js';
import { parseUrl, sendError, sendJson } from '../http-util.js';
import type { RouterState } from '../router-state.js';
import { ASSETS } from './assets.js';
import { HistoryFeed } from './history-feed.js';
import { loginPage, mainPage } from './page-html.js';
import { TallySeries } from './tally-series.js';
import { isSignedIn, setCookieHeader } from './ui-auth.js';

/** Headers on every page of the view: no framing, no referrer (a ?token= URL must not leak), nothing from elsewhere. */
const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
};

/**
 * The web view (GET /ui/): one page showing, per service, the target and
 * canary, each version's state, processes and terminals, the tally over the
 * last minutes as a chart, and the policy history; it polls /ui/data every
 * second. The token is required: `/ui/?token=<token>` sets an HttpOnly,
 * SameSite=Strict cookie (an HMAC of the token, ui-auth.ts) and redirects to
 * the clean URL; without it the page asks for the token.
 */
export class WebView {
  private readonly series: TallySeries;
  private readonly history: HistoryFeed;

  constructor(
    private readonly state: RouterState,
    store?: Pick<Store, 'history' | 'revision'>,
  ) {
    this.series = new TallySeries({ policy: () => state.served(), tallies: state.tallies, now: () => state.now() });
    this.history = new HistoryFeed(store ?? new PolicyStore(state.options.stateDir));
  }

  /** Starts sampling the tally, so the chart has the minutes before the page was opened. */
  start(): void {
    this.series.start();
  }

  stop(): void {
    this.series.stop();
  }

  /** Whether a request path belongs to the view: /ui, /ui/…, /ui?… */
  static owns(path: string): boolean {
    return path === '/ui' || path.startsWith('/ui/') || path.startsWith('/ui?');
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    const url = parseUrl(req);
    if (url === undefined) return sendError(res, 400, 'bad_request', 'The request path could not be parsed.');
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 405, 'method_not_allowed', `${req.method} is not allowed on ${url.pathname}: the web view only reads.`);
    const token = this.state.options.token;
    if (url.pathname === '/ui') return this.redirect(res, '/ui/');
    if (url.pathname === '/ui/') {
      const offered = url.searchParams.get('token');
      if (offered !== null) {
        if (!tokenMatches(offered, token)) return this.page(res, 401, loginPage('That token is not the one in the state folder.'));
        return this.redirect(res, '/ui/', setCookieHeader(token));
      }
      return isSignedIn(req, token) ? this.page(res, 200, mainPage()) : this.page(res, 401, loginPage());
    }
    if (url.pathname === '/ui/data') {
      if (!isSignedIn(req, token)) return sendError(res, 401, 'unauthorized', 'Sign in at /ui/ with the token from the state folder.');
      return sendJson(res, 200, await this.data());
    }
    const asset = ASSETS[url.pathname.slice('/ui/'.length)];
    if (asset === undefined) return sendError(res, 404, 'not_found', `No such page in the web view: ${url.pathname}.`);
    const { type, body } = asset();
    res.writeHead(200, { ...PAGE_HEADERS, 'content-type': type, 'content-length': body.length, 'cache-control': 'max-age=300' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private async data() {
    const status = await this.state.status();
    let history;
    try {
      history = { revisions: await this.history.recent(status.generation), error: null };
    } catch (error) {
      history = { revisions: [], error: (error as Error).message };
    }
    return { now: this.state.now(), heartbeatIntervalMs: this.state.options.heartbeatIntervalMs, status, series: this.series.series(), history };
  }

  private page(res: ServerResponse, status: number, html: string): void {
    const body = Buffer.from(html);
    res.writeHead(status, { ...PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8', 'content-length': body.length });
    res.end(body);
  }

  private redirect(res: ServerResponse, location: string, cookie?: string): void {
    res.writeHead(303, { ...PAGE_HEADERS, location, 'content-length': 0, ...(cookie === undefined ? {} : { 'set-cookie': cookie }) });
    res.end();
  }
}
