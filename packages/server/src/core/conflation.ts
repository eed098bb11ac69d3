import { PUBLICATION_PRIORITIES, type PublicationPriority } from '@switchboard/protocol';
import type { StreamPublication } from '../engine/broker.js';
import { publicationJson } from './encode.js';

/** A namespace's `conflation` option. */
export interface ConflationOptions {
  /** Length of a window, ms. */
  windowMs: number;
  /** Dot path into the publication data, e.g. `formId` or `progress.formId`. */
  key: string;
}

/**
 * The bucket a publication conflates under: the JSON text of the value at `path` in its data
 * when that is a string, a number or a boolean (so `1` and `"1"` are two keys); null when the
 * data has no such value (missing, null, an object or an array): such a publication is never
 * conflated away.
 */
export function conflationKey(data: string, path: readonly string[]): string | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  for (const part of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, part)) return null;
    value = (value as Record<string, unknown>)[part];
  }
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? JSON.stringify(value) : null;
}

/** The latest publication per key of publications in offset order, and every one without a key, in offset order. */
export function latestPerKey(pubs: readonly StreamPublication[], path: readonly string[]): StreamPublication[] {
  const latest = new Map<string, number>();
  const keep = new Array<boolean>(pubs.length).fill(true);
  pubs.forEach((pub, i) => {
    const key = conflationKey(pub.data, path);
    if (key === null) return;
    const previous = latest.get(key);
    if (previous !== undefined) keep[previous] = false;
    latest.set(key, i);
  });
  return pubs.filter((_, i) => keep[i]);
}

/** What one closed window delivers: the range of offsets it covers and its survivors. */
export interface WindowContents {
  epoch: string;
  /** The offset before the first one covered: a subscriber at or past it continues with this window. */
  after: number;
  /** The newest offset covered: a subscriber's position after the window. */
  offset: number;
  /** The latest publication per key and every unkeyed one, in offset order. */
  publications: StreamPublication[];
  /** Publications of the range conflated away (the range's count minus the survivors). */
  skipped: number;
  /** The namespace's conflation key, split at its dots. */
  path: readonly string[];
}

/**
 * One channel's open window on one node: consecutive publications of one epoch, of which only
 * the latest per key (and every unkeyed one) survive. A publication that does not follow the
 * window's last (a gap, another epoch) must close the window first, so a window always covers
 * one unbroken range of offsets.
 */
export class ConflationWindow {
  readonly #path: readonly string[];
  #epoch = '';
  #after = 0;
  #last = 0;
  #count = 0;
  readonly #latest = new Map<string, StreamPublication>();
  readonly #unkeyed: StreamPublication[] = [];

  constructor(key: string) {
    this.#path = key.split('.');
  }

  /** Publications taken since the window opened (0: closed). */
  get size(): number {
    return this.#count;
  }

  /** Whether a publication continues this window's range (any does while the window is empty). */
  follows(epoch: string, offset: number): boolean {
    return this.#count === 0 || (epoch === this.#epoch && offset === this.#last + 1);
  }

  /** Take a publication that `follows`. */
  add(pub: StreamPublication, epoch: string): void {
    if (this.#count === 0) {
      this.#epoch = epoch;
      this.#after = pub.offset - 1;
    }
    this.#last = pub.offset;
    this.#count++;
    const key = conflationKey(pub.data, this.#path);
    if (key === null) this.#unkeyed.push(pub);
    else this.#latest.set(key, pub);
  }

  /** Close the window: its range and survivors; the window is empty afterwards. */
  take(): WindowContents {
    const publications = [...this.#latest.values(), ...this.#unkeyed].sort((a, b) => a.offset - b.offset);
    const contents = { epoch: this.#epoch, after: this.#after, offset: this.#last, publications, skipped: this.#count - publications.length, path: this.#path };
    this.#latest.clear();
    this.#unkeyed.length = 0;
    this.#count = 0;
    return contents;
  }
}

/**
 * A closed window as the hub hands it to every local subscriber of the channel: one `pubs`
 * push built once, shared by all of them; a filtered subscription gets the survivors that pass
 * its filter, over the same range.
 */
export class ConflatedFrame {
  readonly bytes: Buffer;

  constructor(
    readonly channel: string,
    readonly window: WindowContents,
  ) {
    this.bytes = pubsPush(channel, window, window.publications);
  }

  get epoch(): string {
    return this.window.epoch;
  }

  /** The highest priority among the frame's publications (absent: normal). */
  get priority(): PublicationPriority | undefined {
    let best: PublicationPriority | undefined;
    for (const pub of this.window.publications) {
      if (pub.priority !== undefined && (best === undefined || PUBLICATION_PRIORITIES.indexOf(pub.priority) < PUBLICATION_PRIORITIES.indexOf(best)))
        best = pub.priority;
    }
    return best;
  }

  /** The newest offset the frame covers. */
  get offset(): number {
    return this.window.offset;
  }

  /** The frame with only the publications `keep` passes (same range). */
  filtered(keep: (pub: StreamPublication) => boolean): Buffer {
    return pubsPush(this.channel, this.window, this.window.publications.filter(keep));
  }

  /** The window as one subscriber gets it: only the publications `keep` passes (all without a filter). */
  windowFor(keep: ((pub: StreamPublication) => boolean) | null): WindowContents {
    return keep === null ? this.window : { ...this.window, publications: this.window.publications.filter(keep) };
  }
}

/** `{"push":"pubs","channel","epoch","after","offset","skipped","publications":[…]}` with the stored payloads spliced in. */
export function pubsPush(channel: string, w: WindowContents, publications: readonly StreamPublication[]): Buffer {
  return Buffer.from(
    `{"push":"pubs","channel":${JSON.stringify(channel)},"epoch":${JSON.stringify(w.epoch)},"after":${w.after},"offset":${w.offset},"skipped":${w.skipped},"publications":[${publications.map(publicationJson).join(',')}]}`,
  );
}
