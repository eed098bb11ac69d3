import { describe, expect, it } from 'vitest';
import { SwitchboardError } from '../../src/errors/sb-error.js';
import { parseConfig } from '../../src/features/builtin.js';

/** The namespace option `conflation: { windowMs, key }`: accepted as documented, refused with a clear message otherwise. */
function refusal(conflation: unknown, extra: Record<string, unknown> = {}): string {
  try {
    parseConfig({ namespaces: { progress: { conflation, ...extra } } });
  } catch (err) {
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe('SB_ERR_CONFIG_INVALID');
    return (err as SwitchboardError).message;
  }
  throw new Error(`expected ${JSON.stringify(conflation)} to be refused`);
}

describe('namespace option conflation', () => {
  it('is off by default and accepts a window and a dot path', () => {
    expect(parseConfig({}).namespaces['project']?.conflation).toBeUndefined();
    const config = parseConfig({ namespaces: { progress: { conflation: { windowMs: 250, key: 'progress.formId' } } } });
    expect(config.namespaces['progress']?.conflation).toEqual({ windowMs: 250, key: 'progress.formId' });
    expect(parseConfig({ namespaces: { p: { conflation: { windowMs: 50, key: 'id' } } } }).namespaces['p']?.conflation?.windowMs).toBe(50);
    expect(parseConfig({ namespaces: { p: { conflation: { windowMs: 60_000, key: 'a-b_c.0' } } } }).namespaces['p']?.conflation?.key).toBe('a-b_c.0');
  });

  it('refuses a window outside 50–60000 ms or not an integer, naming the option', () => {
    for (const windowMs of [0, 49, 60_001, -5, 12.5, '100', null]) {
      const message = refusal({ windowMs, key: 'id' });
      expect(message).toContain('namespaces.progress.conflation.windowMs');
      expect(message).toContain('expected an integer from 50 to 60000 (ms)');
    }
  });

  it('refuses a key that is not a dot path of plain names', () => {
    for (const key of ['', '.id', 'id.', 'a..b', 'data.$x', 'form id', 'a.b.c.d.e.f.g.h.i', 'x'.repeat(65), 7]) {
      const message = refusal({ windowMs: 100, key });
      expect(message).toContain('namespaces.progress.conflation.key');
    }
    expect(refusal({ windowMs: 100, key: 'a..b' })).toContain('expected a dot path into the publication data');
  });

  it('refuses a missing field, an unknown field, and conflation with delta', () => {
    expect(refusal({ windowMs: 100 })).toContain('namespaces.progress.conflation.key');
    expect(refusal({ key: 'id' })).toContain('namespaces.progress.conflation.windowMs');
    expect(refusal({ windowMs: 100, key: 'id', keys: 'x' })).toContain('keys');
    expect(refusal({ windowMs: 100, key: 'id' }, { delta: true })).toContain('conflation and delta cannot both be on in a namespace');
  });
});
