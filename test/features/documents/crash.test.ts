import { describe, expect, it } from 'vitest';
import { runDocumentsCrash } from '../../long/documents-crash.js';

describe('document crash durability (short variant of test/long/documents-crash.ts)', () => {
  it('keeps every acknowledged change and a sound SQLite file across kill -9 during writes', async () => {
    const result = await runDocumentsCrash({ kills: 6, maxLifeMs: 600 });
    expect(result.acknowledged).toBeGreaterThan(0);
    expect(result.missing).toEqual([]);
    expect(result.integrity).toBe('ok');
  }, 120_000);
});
