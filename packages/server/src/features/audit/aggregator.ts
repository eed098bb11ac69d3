/**
 * Audit entries aggregated in memory per minute window, before they are written in batches:
 * one row per window and key (type, tenant, user, IP and what the type adds: a reason, a
 * limit, a key id), with a count. Bounded: an IP gets at most `rowsPerIp` rows per window (the
 * last an `audit.overflow` row counting the events that got none), and a window holds at
 * most `maxKeys` keys (beyond, one `audit.overflow` row without an IP counts the rest).
 */

export const WINDOW_MS = 60_000;
export const OVERFLOW_TYPE = 'audit.overflow';

/** An entry waiting to be written. */
export interface PendingEntry {
  /** null: the system scope. */
  tenant: string | null;
  type: string;
  /** The window's start (Unix ms). */
  at: number;
  user: string | null;
  ip: string | null;
  count: number;
  firstAt: number;
  lastAt: number;
  detail: Record<string, unknown>;
}

/** One event as the audit log hears it. */
export interface AuditInput {
  type: string;
  tenant: string | null;
  user: string | null;
  ip: string | null;
  /** What the type adds to the key (a reason, a limit, a key id); events with the same key share a row. */
  subject: string;
  /** Built only for the first event of a key. */
  detail: () => Record<string, unknown>;
  count: number;
  at: number;
}

export type AddOutcome = 'new' | 'merged' | 'ip_cap' | 'key_cap';

interface IpState {
  rows: number;
  overflow: PendingEntry | null;
}

interface Window {
  start: number;
  entries: Map<string, PendingEntry>;
  perIp: Map<string, IpState>;
  overflow: PendingEntry[];
  other: PendingEntry | null;
  /** Keys held: entries and IPs, the memory bound. */
  keys: number;
}

const SEP = '\u0000';

export class AuditAggregator {
  #window: Window | null = null;
  #ready: PendingEntry[] = [];

  constructor(
    private readonly limits: () => { rowsPerIp: number; maxKeys: number },
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** Entries and keys held now (for tests and metrics). */
  get held(): number {
    return this.#ready.length + (this.#window?.keys ?? 0);
  }

  add(e: AuditInput): AddOutcome {
    const w = this.#windowFor(e.at);
    const key = `${e.type}${SEP}${e.tenant ?? ''}${SEP}${e.user ?? ''}${SEP}${e.ip ?? ''}${SEP}${e.subject}`;
    const existing = w.entries.get(key);
    if (existing) {
      existing.count += e.count;
      if (e.at > existing.lastAt) existing.lastAt = e.at;
      return 'merged';
    }
    const { rowsPerIp, maxKeys } = this.limits();
    const ipKey = e.ip ?? '';
    let ip = w.perIp.get(ipKey);
    if (!ip) {
      if (w.keys >= maxKeys) return this.#other(w, e);
      ip = { rows: 0, overflow: null };
      w.perIp.set(ipKey, ip);
      w.keys++;
    }
    if (ip.rows >= rowsPerIp - 1) {
      if (!ip.overflow) {
        ip.overflow = overflowEntry(w.start, e, e.ip, 'ip');
        ip.rows++;
        w.overflow.push(ip.overflow);
      }
      bump(ip.overflow, e);
      return 'ip_cap';
    }
    if (w.keys >= maxKeys) return this.#other(w, e);
    w.entries.set(key, {
      tenant: e.tenant,
      type: e.type,
      at: w.start,
      user: e.user,
      ip: e.ip,
      count: e.count,
      firstAt: e.at,
      lastAt: e.at,
      detail: e.detail(),
    });
    ip.rows++;
    w.keys++;
    return 'new';
  }

  /** Entries of windows that ended by `now`. */
  takeDue(now: number): PendingEntry[] {
    if (this.#window && now >= this.#window.start + this.windowMs) this.#close();
    return this.#take();
  }

  /**
   * Every entry held, the current window's too (shutdown, tests). The window's per-IP row
   * counts are kept: later events of the same window start new rows, within the same cap.
   */
  takeAll(): PendingEntry[] {
    const w = this.#window;
    if (w) {
      this.#ready.push(...w.entries.values(), ...w.overflow);
      if (w.other) this.#ready.push(w.other);
      w.keys -= w.entries.size;
      w.entries = new Map();
      w.overflow = [];
      w.other = null;
      for (const ip of w.perIp.values()) ip.overflow = null;
    }
    return this.#take();
  }

  /** Put entries back after a failed write (up to the key bound; the rest are lost and counted by the caller). */
  requeue(entries: PendingEntry[]): number {
    const room = Math.max(0, this.limits().maxKeys - this.#ready.length);
    const kept = entries.slice(0, room);
    this.#ready.push(...kept);
    return entries.length - kept.length;
  }

  #take(): PendingEntry[] {
    const out = this.#ready;
    this.#ready = [];
    return out;
  }

  #windowFor(at: number): Window {
    const start = at - (at % this.windowMs);
    if (this.#window && start > this.#window.start) this.#close();
    if (!this.#window) this.#window = { start, entries: new Map(), perIp: new Map(), overflow: [], other: null, keys: 0 };
    return this.#window;
  }

  #close(): void {
    const w = this.#window;
    if (!w) return;
    this.#ready.push(...w.entries.values(), ...w.overflow);
    if (w.other) this.#ready.push(w.other);
    this.#window = null;
  }

  #other(w: Window, e: AuditInput): AddOutcome {
    if (!w.other) w.other = overflowEntry(w.start, e, null, 'keys');
    bump(w.other, e);
    return 'key_cap';
  }
}

function overflowEntry(start: number, e: AuditInput, ip: string | null, reason: 'ip' | 'keys'): PendingEntry {
  return { tenant: null, type: OVERFLOW_TYPE, at: start, user: null, ip, count: 0, firstAt: e.at, lastAt: e.at, detail: { reason, types: {} } };
}

function bump(entry: PendingEntry, e: AuditInput): void {
  entry.count += e.count;
  if (e.at > entry.lastAt) entry.lastAt = e.at;
  const types = entry.detail['types'] as Record<string, number>;
  types[e.type] = (types[e.type] ?? 0) + e.count;
}
