import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { changedBy, makeEvent, verifyWebhookSignature, webhookSignature, type ChangedBy } from '../../src/protocol/events.js';

describe('changedBy', () => {
  const self = { user: 'ana', host: 'build-7' };
  it.each<[string, Record<string, string>, ChangedBy]>([
    ['a person at a terminal', {}, { kind: 'user', user: 'ana', host: 'build-7' }],
    ['GitHub Actions', { GITHUB_ACTIONS: 'true', GITHUB_ACTOR: 'octo', GITHUB_RUN_ID: '42', GITHUB_REPOSITORY: 'acme/shop' },
      { kind: 'ci', system: 'github-actions', actor: 'octo', run: '42', repository: 'acme/shop', url: 'https://github.com/acme/shop/actions/runs/42' }],
    ['GitHub Enterprise', { GITHUB_ACTIONS: 'true', GITHUB_ACTOR: 'octo', GITHUB_RUN_ID: '7', GITHUB_REPOSITORY: 'a/b', GITHUB_SERVER_URL: 'https://ghe.acme' },
      { kind: 'ci', system: 'github-actions', actor: 'octo', run: '7', repository: 'a/b', url: 'https://ghe.acme/a/b/actions/runs/7' }],
    ['GitLab CI', { GITLAB_CI: 'true', CI: 'true', GITLAB_USER_LOGIN: 'gl', CI_JOB_ID: '99', CI_PROJECT_PATH: 'acme/shop', CI_JOB_URL: 'https://gitlab.acme/acme/shop/-/jobs/99' },
      { kind: 'ci', system: 'gitlab-ci', actor: 'gl', run: '99', repository: 'acme/shop', url: 'https://gitlab.acme/acme/shop/-/jobs/99' }],
    ['another CI', { CI: 'true' }, { kind: 'ci', system: 'ci', actor: 'ana', run: null, repository: null, url: null }],
    ['CI=false is no CI', { CI: 'false' }, { kind: 'user', user: 'ana', host: 'build-7' }],
    ['GitHub without its run variables', { GITHUB_ACTIONS: 'true' }, { kind: 'ci', system: 'github-actions', actor: 'ana', run: null, repository: null, url: null }],
  ])('%s', (_what, env, expected) => {
    expect(changedBy(env, self)).toEqual(expected);
  });

  it('falls back to USER, then nothing', () => {
    expect(changedBy({ USER: 'bo' }, {})).toEqual({ kind: 'user', user: 'bo', host: null });
    expect(changedBy({}, {})).toEqual({ kind: 'user', user: null, host: null });
  });
});

describe('webhook signatures', () => {
  const body = JSON.stringify(makeEvent({ type: 'rollout.aborted', service: 'lobby', version: '1.6.0', reason: 'errors' }, new Date('2026-11-25T10:00:00Z'), 'e1'));

  it('is sha256=<lower-hex HMAC-SHA256(secret, raw body)>', () => {
    const expected = `sha256=${createHmac('sha256', 's3cret').update(body).digest('hex')}`;
    expect(webhookSignature('s3cret', body)).toBe(expected);
    expect(expected).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  it('verifies only the exact body with the same secret', () => {
    const header = webhookSignature('s3cret', body);
    expect(verifyWebhookSignature('s3cret', body, header)).toBe(true);
    expect(verifyWebhookSignature('other', body, header)).toBe(false);
    expect(verifyWebhookSignature('s3cret', `${body} `, header)).toBe(false);
    expect(verifyWebhookSignature('s3cret', body, undefined)).toBe(false);
    expect(verifyWebhookSignature('s3cret', body, 'sha256=00')).toBe(false);
  });

  it('an event has every field of the contract, null where it does not apply', () => {
    expect(JSON.parse(body)).toEqual({
      id: 'e1', type: 'rollout.aborted', service: 'lobby', version: '1.6.0', from: null, step: null, canary: null,
      generation: null, reason: 'errors', metrics: null, at: '2026-11-25T10:00:00.000Z', by: null,
    });
  });
});
