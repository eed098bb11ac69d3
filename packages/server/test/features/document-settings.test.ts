import { describe, expect, it } from 'vitest';
import { documentSettings, documentsConfig } from '../../src/features/documents/config.js';

/**
 * A loaded document keeps its namespace's settings: one object per configuration and namespace
 * option, not one per open (a thousand documents of a namespace were a thousand copies).
 */
describe('document settings', () => {
  const config = documentsConfig.parse({});

  it('gives the same frozen object for the same configuration and option, and none for a namespace without documents', () => {
    const plain = documentSettings(config, true);
    expect(plain).toMatchObject({ maxDocumentBytes: config.maxDocumentBytes, persistence: true, versionEvery: 0, lockedParts: null });
    expect(documentSettings(config, true)).toBe(plain);
    expect(Object.isFrozen(plain)).toBe(true);
    const option = { persistence: false, versionEvery: 60_000 };
    const own = documentSettings(config, option);
    expect(own).toMatchObject({ persistence: false, versionEvery: 60_000, maxUpdateBytes: config.maxUpdateBytes });
    expect(documentSettings(config, option)).toBe(own);
    expect(own).not.toBe(plain);
    expect(documentSettings(config, false)).toBeNull();
    expect(documentSettings(config, undefined)).toBeNull();
  });

  it('makes new settings for a new configuration (a reload), with its values', () => {
    const before = documentSettings(config, true);
    const reloaded = documentsConfig.parse({ maxDocumentBytes: 1024 * 1024 });
    const after = documentSettings(reloaded, true);
    expect(after).not.toBe(before);
    expect(after?.maxDocumentBytes).toBe(1024 * 1024);
    expect(before?.maxDocumentBytes).toBe(config.maxDocumentBytes);
  });
});
