import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineEventType, EventCatalogue, type EventSink, type OutgoingEvent } from '../../src/features/events.js';

const made = defineEventType({
  type: 'thing.made',
  description: 'A thing was made.',
  data: z.object({ name: z.string() }),
  example: { name: 'a' },
});

/** A sink that keeps what it is given, per write, and wants only tenant `acme`. */
class KeepingSink implements EventSink {
  readonly writes: OutgoingEvent[][] = [];
  wants(tenant: string): boolean {
    return tenant === 'acme';
  }
  async write(events: readonly OutgoingEvent[]): Promise<void> {
    this.writes.push([...events]);
  }
  committed(): void {}
}

function catalogue() {
  const c = new EventCatalogue([{ name: 'things', events: [made] }]);
  const sink = new KeepingSink();
  c.scoped('sink', () => 0).consume(sink);
  return { events: c.scoped('things', () => 1_700_000_000_000), sink };
}

describe('emitting many events at once', () => {
  it('stores them in one write, in the order given, with ids that sort in that order', async () => {
    const { events, sink } = catalogue();
    const names = Array.from({ length: 300 }, (_, i) => `n${i}`);
    await events.emitMany(
      'thing.made',
      'acme',
      names.map((name) => ({ name })),
    );
    expect(sink.writes).toHaveLength(1);
    const written = sink.writes[0] as OutgoingEvent[];
    expect(written.map((e) => (e.data as { name: string }).name)).toEqual(names);
    const ids = written.map((e) => e.id);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(written.every((e) => e.type === 'thing.made' && e.tenant === 'acme' && e.timestamp === 1_700_000_000_000)).toBe(true);
  });

  it('writes nothing when one payload fails its schema, when nobody wants them, or when there are none', async () => {
    const { events, sink } = catalogue();
    await expect(events.emitMany('thing.made', 'acme', [{ name: 'ok' }, { name: 42 }])).rejects.toThrow();
    await events.emitMany('thing.made', 'other-tenant', [{ name: 'ok' }]);
    await events.emitMany('thing.made', 'acme', []);
    expect(sink.writes).toEqual([]);
  });

  it('refuses a type the feature did not declare, as emit does', async () => {
    const { events } = catalogue();
    await expect(events.emitMany('thing.lost', 'acme', [{ name: 'a' }])).rejects.toThrow(/does not declare/);
    await expect(events.emit('thing.lost', 'acme', { name: 'a' })).rejects.toThrow(/does not declare/);
  });
});
