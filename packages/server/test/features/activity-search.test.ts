import { describe, expect, it } from 'vitest';
import { everyBucket } from '../../src/features/activity/insights.js';
import { ftsMatch, MAX_SEARCH_TEXT, searchText, tsQuery, words } from '../../src/features/activity/search.js';

describe('activity search words', () => {
  it('lower-cases, removes accents and splits at everything but letters and digits', () => {
    expect(words('Café au LAIT, s’il vous plaît!')).toEqual(['cafe', 'au', 'lait', 's', 'il', 'vous', 'plait']);
    expect(words("Über-Plan: O'Brien (task:12) İstanbul ﬁle")).toEqual(['uber', 'plan', 'o', 'brien', 'task', '12', 'istanbul', 'file']);
    expect(words('"" * NEAR(a b) | & ! \\ 🔥')).toEqual(['near', 'a', 'b']);
    expect(words('x'.repeat(100))).toEqual(['x'.repeat(64)]);
  });

  it("indexes an activity's fields and the strings in data, not its keys or numbers, each word once", () => {
    const text = searchText({
      verb: 'commented',
      actor: 'ann',
      object: 'task:1',
      target: null,
      objects: ['task:1', 'task:2'],
      data: { secretkey: 'Hello', n: 42, nested: [{ deep: 'world hello' }], flag: true },
    });
    expect(text).toBe('commented ann task 1 2 hello world');
    const long = searchText({ verb: 'v', actor: 'a', object: null, target: null, objects: [], data: Array.from({ length: 5000 }, (_, i) => `w${i}`) });
    expect(long.length).toBeLessThanOrEqual(MAX_SEARCH_TEXT);
  });

  it('builds MATCH and tsquery text from quoted words only, the last as a prefix', () => {
    expect(ftsMatch(['uber', 'pl'])).toBe('"uber" "pl"*');
    expect(tsQuery(['uber', 'pl'])).toBe("'uber' & 'pl':*");
    // Words never hold quotes, but the quoting holds even if they did.
    expect(ftsMatch(['a"b'])).toBe('"a""b"*');
    expect(tsQuery(["a'b\\"])).toBe("'a''b\\\\':*");
  });
});

describe('insight buckets', () => {
  it('lists every UTC hour overlapping the range, with zeros', () => {
    const h = 3_600_000;
    expect(everyBucket({ from: 30 * 60_000, to: 2 * h + 1, bucket: 'hour' }, [{ start: h, count: 3 }])).toEqual([
      { start: 0, count: 0 },
      { start: h, count: 3 },
      { start: 2 * h, count: 0 },
    ]);
  });
});
