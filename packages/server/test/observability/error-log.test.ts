import { describe, expect, it } from 'vitest';
import { ERROR_WINDOW_MINUTES, ErrorLog, MAX_ERROR_ENTRIES, redactMessage, truncateId } from '../../src/observability/error-log.js';

const ALL = { tenant: null, minutes: 5, examples: 5 };

describe('ErrorLog', () => {
  it('counts by tenant and code, since start and over the last minutes, and keeps the latest 3 examples of each', () => {
    let now = 10 * 60_000;
    const log = new ErrorLog(() => now);
    for (let i = 0; i < 5; i++) log.record(104, 'acme', 'socket', 'publish', '', `refused ${i}`, 'Qm9vYmFyYmF6cXV4');
    log.record(101, null, 'http', 'GET', '/api/v1/channels', 'invalid API key', '');
    now += 6 * 60_000;
    log.record(104, 'other', 'http', 'POST', '/api/v1/publish', 'permission denied', '');
    const all = log.figures(ALL, 'n1');
    const denied = all.find((f) => f.code === 104);
    expect(denied).toMatchObject({ count: 6, recent: 1 });
    expect(denied?.examples.map((e) => e.message)).toEqual(['permission denied', 'refused 4', 'refused 3', 'refused 2']);
    expect(denied?.examples[1]).toMatchObject({ tenant: 'acme', source: 'socket', where: 'publish', client: 'Qm9vYm…', node: 'n1' });
    expect(denied?.examples[0]).toMatchObject({ tenant: 'other', where: 'POST /api/v1/publish', client: null });
    expect(log.figures({ ...ALL, minutes: ERROR_WINDOW_MINUTES }, 'n1').find((f) => f.code === 104)?.recent).toBe(6);
    // A tenant sees its own errors only, and never those of no tenant.
    expect(log.figures({ ...ALL, tenant: 'acme' }, 'n1').map((f) => [f.code, f.count])).toEqual([[104, 5]]);
    expect(log.figures({ ...ALL, tenant: 'nobody' }, 'n1')).toEqual([]);
    expect(log.figures({ ...ALL, tenant: '' }, 'n1')).toEqual([]);
    expect(all.find((f) => f.code === 101)?.examples[0]?.tenant).toBeNull();
  });

  it('stays bounded under a flood of distinct errors (tenants, codes, messages), and still counts every one for the admin view', () => {
    const log = new ErrorLog();
    const flood = 200_000;
    for (let i = 0; i < flood; i++) log.record(400 + (i % 1600), `t${i % 5000}`, 'socket', 'rpc', '', `message ${i} ${'x'.repeat(i % 50)}`, `c${i}`);
    expect(log.size).toBeLessThanOrEqual(MAX_ERROR_ENTRIES + 2000);
    const figures = log.figures({ ...ALL, examples: 1000 }, 'n');
    expect(figures.reduce((n, f) => n + f.count, 0) + log.dropped).toBe(flood);
    expect(log.dropped).toBe(0);
    const examples = figures.reduce((n, f) => n + f.examples.length, 0);
    expect(examples).toBeLessThanOrEqual(3 * log.size);
  });
});

describe('redactMessage', () => {
  const CANARY = 'CANARY7f3a9c';
  it.each([
    ['a JWT', `invalid token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ${CANARY}fQ.c2lnbmF0dXJlc2lnbmF0dXJl`],
    ['an API key', `key sb_0123456789ab_${CANARY}secretsecretsecret refused`],
    ['a bearer credential', `header Authorization: Bearer ${CANARY}`],
    ['a named secret', `bad config secret=${CANARY} password: ${CANARY}`],
    ['a payload', `invalid payload {"card":"${CANARY}","n":1}`],
    ['quoted input', `Unexpected token 'x', "${CANARY} is n"... is not valid JSON`],
    ['a long id', `no such thing ${CANARY}${CANARY}`],
  ])('removes %s', (_what, message) => {
    expect(redactMessage(message)).not.toContain(CANARY);
  });

  it('keeps an ordinary message as it is, and cuts a long one to 200 characters', () => {
    expect(redactMessage('permission denied: publish')).toBe('permission denied: publish');
    expect(redactMessage('unknown namespace: nosuch')).toBe('unknown namespace: nosuch');
    expect(redactMessage('missing API key (Authorization: Bearer <key>)')).toBe('missing API key (Authorization: Bearer [redacted]');
    expect(redactMessage('word '.repeat(100)).length).toBeLessThanOrEqual(201);
  });

  it('cuts ids to their first 6 characters', () => {
    expect(truncateId('Qm9vYmFyYmF6')).toBe('Qm9vYm…');
    expect(truncateId('abc')).toBe('abc');
  });
});
