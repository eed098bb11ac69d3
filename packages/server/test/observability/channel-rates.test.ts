import { describe, expect, it } from 'vitest';
import { ChannelRates, MAX_RATE_CHANNELS, RATE_WINDOW_S } from '../../src/observability/channel-rates.js';

const T0 = 1_700_000_000_000;

describe('ChannelRates: publications per channel over the last 10 s, in bounded memory', () => {
  it('counts per channel key, scoped to its tenant and a name prefix, and averages over the window', () => {
    const rates = new ChannelRates();
    for (let i = 0; i < 20; i++) rates.add('acme|project:1', T0 + i * 100);
    rates.add('acme|chat:1', T0);
    rates.add('other|project:1', T0);
    const now = T0 + 2500;
    expect(new Map(rates.of('acme', '', now))).toEqual(
      new Map([
        ['project:1', 20 / RATE_WINDOW_S],
        ['chat:1', 1 / RATE_WINDOW_S],
      ]),
    );
    expect(rates.of('acme', 'project:', now)).toEqual([['project:1', 2]]);
    expect(rates.of('other', '', now)).toEqual([['project:1', 0.1]]);
    expect(rates.of('ac', '', now)).toEqual([]);
  });

  it('forgets the seconds that left the window', () => {
    const rates = new ChannelRates();
    rates.add('acme|a', T0);
    rates.add('acme|a', T0 + 5000);
    expect(rates.of('acme', '', T0 + 9999)).toEqual([['a', 0.2]]);
    expect(rates.of('acme', '', T0 + 10_000)).toEqual([['a', 0.1]]);
    expect(rates.of('acme', '', T0 + 15_000)).toEqual([]);
    // A slot reused a window later starts from zero.
    rates.add('acme|a', T0 + 20_000);
    expect(rates.of('acme', '', T0 + 20_000)).toEqual([['a', 0.1]]);
  });

  it(`follows at most ${MAX_RATE_CHANNELS} channels: a new one waits until stale ones are dropped`, () => {
    const rates = new ChannelRates();
    for (let i = 0; i < MAX_RATE_CHANNELS; i++) rates.add(`acme|c:${i}`, T0);
    rates.add('acme|late', T0 + 1000);
    expect(rates.size).toBe(MAX_RATE_CHANNELS);
    expect(rates.of('acme', 'late', T0 + 1000)).toEqual([]);
    // Known channels go on counting.
    rates.add('acme|c:0', T0 + 1000);
    expect(rates.of('acme', 'c:0', T0 + 1000)).toEqual([['c:0', 0.2]]);
    // Once the others are out of the window, the new channel finds room.
    rates.add('acme|late', T0 + 10_500);
    expect(rates.size).toBeLessThanOrEqual(2);
    expect(rates.of('acme', 'late', T0 + 10_500)).toEqual([['late', 0.1]]);
  });
});
