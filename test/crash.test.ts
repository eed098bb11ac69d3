import { describe, expect, it } from 'vitest';
import { runCrash } from './long/crash.js';

describe('crash durability (short variant of test/long/crash.ts)', () => {
  it('keeps every acknowledged notification and a sound SQLite file across kill -9 during writes', async () => {
    const result = await runCrash({ kills: 6, maxLifeMs: 400 });
    expect(result.acknowledged).toBeGreaterThan(0);
    expect(result.missing).toEqual([]);
    expect(result.integrity).toBe('ok');
    // Seven server starts (six killed, one to read back) take ~13 s alone; a full run's load
    // once stretched them past 120 s.
  }, 300_000);
});
