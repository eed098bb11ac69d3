import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/config/duration.js';
import { ENV_ALIASES, FLAG_ALIASES } from '../../src/config/options.js';
import { listOptions } from '../../src/features/builtin.js';

describe('listOptions', () => {
  const options = listOptions();
  const byKey = new Map(options.map((o) => [o.key, o]));

  it('derives the flag and variable of top-level and nested options', () => {
    expect(byKey.get('port')).toMatchObject({ path: ['port'], flag: '--port', env: 'SWITCHBOARD_PORT', json: false });
    expect(byKey.get('limits.maxMessageBytes')).toMatchObject({
      path: ['limits', 'maxMessageBytes'],
      flag: '--limits.max-message-bytes',
      env: 'SWITCHBOARD_LIMITS_MAX_MESSAGE_BYTES',
      json: false,
    });
    expect(byKey.get('dataDir')).toMatchObject({ flag: '--data-dir', env: 'SWITCHBOARD_DATA_DIR' });
  });

  it('lists leaves only, never the objects that hold them', () => {
    expect(byKey.has('limits')).toBe(false);
    expect(byKey.has('timeouts')).toBe(false);
    expect(byKey.has('auth')).toBe(false);
    expect(byKey.has('timeouts.handshake')).toBe(true);
  });

  it('gives every option a unique key, flag and variable', () => {
    for (const field of ['key', 'flag', 'env'] as const) {
      const values = options.map((o) => o[field]);
      expect(new Set(values).size).toBe(values.length);
    }
  });

  it('gives every option a description', () => {
    expect(options.filter((o) => o.description.trim() === '').map((o) => o.key)).toEqual([]);
  });

  it('marks structured options as JSON and the origin list as plain text', () => {
    expect(byKey.get('namespaces')?.json).toBe(true);
    expect(byKey.get('apiKeys')?.json).toBe(true);
    expect(byKey.get('auth.publicKeys')?.json).toBe(true);
    expect(byKey.get('allowedOrigins')?.json).toBe(false);
  });

  it('names the default of durations in their description', () => {
    expect(byKey.get('timeouts.handshake')?.description).toContain('default 10s');
  });

  it('points every alias at an existing option', () => {
    for (const key of [...Object.values(FLAG_ALIASES), ...Object.values(ENV_ALIASES)]) expect(byKey.has(key)).toBe(true);
  });
});

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['10s', 10_000],
    ['1.5s', 1_500],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    [' 10s ', 10_000],
    ['1500', 1_500],
    ['0', 0],
    [42, 42],
    [0, 0],
  ])('parses %j as %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(['', '10x', '-5s', 's', '1e3s', '10 s', '1h30m', 'ms'])('refuses %j', (input) => {
    expect(parseDuration(input)).toBeNull();
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('refuses the number %d', (input) => {
    expect(parseDuration(input)).toBeNull();
  });
});
