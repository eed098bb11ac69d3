import { describe, expect, it } from 'vitest';
import { newId, newOrderedId } from '../../src/storage/ids.js';

describe('row ids', () => {
  it('orders ids made in one millisecond in the order they were made', () => {
    const ids = Array.from({ length: 2000 }, () => newOrderedId('evt', 1_700_000_000_000));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('orders ids by time first, and never goes back when the clock does', () => {
    const a = newOrderedId('evt', 1_800_000_000_000);
    const b = newOrderedId('evt', 1_800_000_000_001);
    const behind = newOrderedId('evt', 1_799_999_999_000);
    expect([b, a, behind].sort()).toEqual([a, b, behind]);
  });

  it('keeps the id alphabet every collation orders alike', () => {
    expect(newOrderedId('evt')).toMatch(/^evt_[0-9a-z]+$/);
    expect(newId('msg')).toMatch(/^msg_[0-9a-z]+$/);
  });
});
