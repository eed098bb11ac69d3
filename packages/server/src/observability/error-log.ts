/**
 * A node's bounded record of the typed errors it answered (socket replies and HTTP error
 * responses): per tenant and code, a count since start, one-minute buckets of the last
 * minutes, and the last few examples. Recording costs a map lookup and a few field writes:
 * examples are preallocated slots that hold references to strings the error already had
 * (its message, the command or route, the connection id); nothing is formatted, copied or
 * redacted until someone reads the record, and what is read is redacted (`redactMessage`).
 */

/** Where an error was answered. */
export type ErrorSource = 'socket' | 'http';

/** Examples kept per tenant and code. */
const EXAMPLES = 3;
/** One-minute buckets kept: `recent` reaches back at most this many minutes. */
export const ERROR_WINDOW_MINUTES = 15;
/** (tenant, code) pairs a node keeps apart; errors of further pairs are counted under no tenant (admin views only). */
export const MAX_ERROR_ENTRIES = 1000;
/** Codes counted under no tenant once the pairs are full (reply codes are 0–1999). */
const MAX_OVERFLOW_CODES = 2000;
/** Longest message an example shows, in characters (before redaction). */
const MESSAGE_CHARS = 200;
const MINUTE = 60_000;

/** One example slot, overwritten in turn; the strings are references, never copies. */
interface Slot {
  time: number;
  source: ErrorSource;
  /** The command (socket) or the HTTP method. */
  what: string;
  /** The route pattern (HTTP), '' for a socket. */
  route: string;
  message: string;
  /** The connection id (socket), '' for HTTP. */
  client: string;
}

class Entry {
  total = 0;
  lastAt = 0;
  /** The minute (Unix ms / 60 000) each bucket counts, and its count. */
  readonly minutes = new Float64Array(ERROR_WINDOW_MINUTES).fill(-1);
  readonly counts = new Uint32Array(ERROR_WINDOW_MINUTES);
  readonly slots: Slot[] = [];
  next = 0;
  constructor(
    readonly tenant: string | null,
    readonly code: number,
  ) {}

  recent(minutes: number, now: number): number {
    const current = Math.floor(now / MINUTE);
    let n = 0;
    for (let i = 0; i < ERROR_WINDOW_MINUTES; i++) {
      const m = this.minutes[i] as number;
      if (m > current - minutes && m <= current) n += this.counts[i] as number;
    }
    return n;
  }
}

/** One redacted example, as the errors route shows it. */
export interface ErrorExample {
  time: number;
  node: string;
  /** null: the error came before a tenant was known (a missing or invalid key or token), or beyond the kept pairs. */
  tenant: string | null;
  source: ErrorSource;
  /** The command (`publish`), or the HTTP method and route pattern (`POST /api/v1/publish`). */
  where: string;
  /** The error's message, redacted: no token, key, secret, quoted input or payload; long ids cut to their first characters. */
  message: string;
  /** The connection's id, cut to its first 6 characters (socket errors); null for HTTP. */
  client: string | null;
}

/** One code's figures, over the entries a reader may see. */
export interface ErrorFigures {
  code: number;
  /** Errors since the node started (a cluster's answer: summed over the nodes). */
  count: number;
  /** Errors over the last `minutes` minutes. */
  recent: number;
  lastAt: number;
  /** The latest examples, newest first. */
  examples: ErrorExample[];
}

export interface ErrorQuery {
  /** One tenant's errors; null: every tenant's and those of no tenant (an admin's view). */
  tenant: string | null;
  /** `recent` counts this many minutes back (1–15). */
  minutes: number;
  /** Examples per code. */
  examples: number;
}

export class ErrorLog {
  readonly #byTenant = new Map<string, Map<number, Entry>>();
  readonly #overflow = new Map<number, Entry>();
  #entries = 0;
  /** Errors not counted at all: both the pairs and the overflow codes were full. */
  dropped = 0;
  readonly since: number;

  constructor(private readonly now: () => number = Date.now) {
    this.since = now();
  }

  /** (tenant, code) pairs held, overflow codes included: never more than `MAX_ERROR_ENTRIES` + 2000. */
  get size(): number {
    return this.#entries + this.#overflow.size;
  }

  /**
   * Count one error answered: `tenant` null before a tenant is known; `what` the command or
   * the HTTP method, `route` the route pattern ('' for a socket), `client` the connection id
   * ('' for HTTP). Every string is kept as a reference.
   */
  record(code: number, tenant: string | null, source: ErrorSource, what: string, route: string, message: string, client: string): void {
    const entry = this.#entry(code, tenant);
    if (!entry) {
      this.dropped++;
      return;
    }
    const now = this.now();
    entry.total++;
    entry.lastAt = now;
    const minute = Math.floor(now / MINUTE);
    const at = minute % ERROR_WINDOW_MINUTES;
    if (entry.minutes[at] !== minute) {
      entry.minutes[at] = minute;
      entry.counts[at] = 0;
    }
    entry.counts[at] = (entry.counts[at] as number) + 1;
    let slot = entry.slots[entry.next];
    if (!slot) {
      slot = { time: 0, source, what, route, message, client };
      entry.slots.push(slot);
    }
    slot.time = now;
    slot.source = source;
    slot.what = what;
    slot.route = route;
    slot.message = message;
    slot.client = client;
    entry.next = (entry.next + 1) % EXAMPLES;
  }

  #entry(code: number, tenant: string | null): Entry | undefined {
    const key = tenant ?? '';
    let byCode = this.#byTenant.get(key);
    const found = byCode?.get(code);
    if (found) return found;
    if (this.#entries < MAX_ERROR_ENTRIES) {
      if (!byCode) {
        byCode = new Map();
        this.#byTenant.set(key, byCode);
      }
      const entry = new Entry(tenant, code);
      byCode.set(code, entry);
      this.#entries++;
      return entry;
    }
    let entry = this.#overflow.get(code);
    if (!entry && this.#overflow.size < MAX_OVERFLOW_CODES) {
      entry = new Entry(null, code);
      this.#overflow.set(code, entry);
    }
    return entry;
  }

  /** This node's figures by code for a reader, redacted, the most recent first. */
  figures(query: ErrorQuery, node: string): ErrorFigures[] {
    const now = this.now();
    const entries: Entry[] = [];
    if (query.tenant === null) {
      for (const byCode of this.#byTenant.values()) entries.push(...byCode.values());
      entries.push(...this.#overflow.values());
    } else {
      const byCode = query.tenant === '' ? undefined : this.#byTenant.get(query.tenant);
      if (byCode) entries.push(...byCode.values());
    }
    const byCode = new Map<number, ErrorFigures>();
    for (const e of entries) {
      let f = byCode.get(e.code);
      if (!f) {
        f = { code: e.code, count: 0, recent: 0, lastAt: 0, examples: [] };
        byCode.set(e.code, f);
      }
      f.count += e.total;
      f.recent += e.recent(query.minutes, now);
      f.lastAt = Math.max(f.lastAt, e.lastAt);
      // Newest first (the sort below is stable, so examples of the same millisecond keep this order).
      for (let i = 1; i <= e.slots.length; i++) f.examples.push(exampleOf(e.slots[(e.next - i + EXAMPLES) % EXAMPLES] as Slot, e.tenant, node));
    }
    const out = [...byCode.values()];
    for (const f of out) f.examples = f.examples.sort((a, b) => b.time - a.time).slice(0, query.examples);
    return out;
  }
}

function exampleOf(s: Slot, tenant: string | null, node: string): ErrorExample {
  return {
    time: s.time,
    node,
    tenant,
    source: s.source,
    where: s.source === 'http' ? `${s.what} ${s.route}` : s.what,
    message: redactMessage(s.message),
    client: s.client === '' ? null : truncateId(s.client),
  };
}

/** An id cut to its first 6 characters (`Qm9vYk…`). */
export function truncateId(id: string): string {
  return id.length > 6 ? `${id.slice(0, 6)}…` : id;
}

const REDACTIONS: ReadonlyArray<[RegExp, string]> = [
  // Anything from a brace or bracket on: a JSON body or payload quoted back.
  [/[{[][\s\S]*$/, '{…}'],
  // Quoted input (JSON.parse and validation messages quote what they got).
  [/"[^"]*(?:"|$)/g, '"…"'],
  [/'[^']{2,}(?:'|$)/g, "'…'"],
  // Credentials after their scheme, and values of names that say secret.
  [/\b(Bearer|Basic)\s+\S+/gi, '$1 [redacted]'],
  [/\b(secret|password|passwd|token|api[_-]?key|authorization|signature|cookie)(\s*[:=]\s*)(?!Bearer\b|Basic\b|\[redacted\])\S+/gi, '$1$2[redacted]'],
  // JWTs and other dotted tokens, API keys.
  [/[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}/g, '[token]'],
  [/\bsb_[\w-]+/g, '[key]'],
];

/**
 * A message as examples show it: at most 200 characters, without a token, API key, secret,
 * quoted input or payload; opaque runs of 16 or more letters and digits (ids, keys, hashes)
 * cut to their first 4.
 */
export function redactMessage(message: string): string {
  let m = message.length > MESSAGE_CHARS ? `${message.slice(0, MESSAGE_CHARS)}…` : message;
  for (const [re, by] of REDACTIONS) m = m.replace(re, by);
  return m.replace(/[A-Za-z0-9+/_-]{16,}={0,2}/g, (run) => `${run.slice(0, 4)}…`);
}
