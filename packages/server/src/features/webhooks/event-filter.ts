import type { EventType } from '../events.js';

/** The first entry of an endpoint's `events` that names no type of the catalogue (`*` and `prefix.*` match), or null. */
export function unknownEventType(events: readonly string[], catalogue: readonly EventType[]): string | null {
  const types = catalogue.map((t) => t.type);
  for (const e of events) {
    const known = e === '*' || (e.endsWith('.*') ? types.some((t) => t.startsWith(e.slice(0, -1))) : types.includes(e));
    if (!known) return e;
  }
  return null;
}
