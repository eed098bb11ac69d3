import type { PublicationPriority } from '@switchboard/protocol';
import { createDelta } from 'fossil-delta';
import type { StreamPublication } from '../engine/broker.js';
import { publicationPush } from './encode.js';

/**
 * A publication as the hub hands it to every local subscriber of a channel: built once per
 * publication and shared by all of them, with the frames they may need, each built at most
 * once, on first use. `bytes` is the ordinary `pub` push. Delta subscribers get `textFrame`
 * (`data` as a JSON string holding the payload's JSON text) or `deltaFrame` (`"delta":true`,
 * `data` the fossil delta from the previous publication's text), so the work is per
 * publication and node, never per subscriber.
 */
export class Delivery {
  #text: Buffer | undefined;
  #delta: Buffer | null | undefined;

  constructor(
    readonly channel: string,
    readonly epoch: string,
    readonly pub: StreamPublication,
    readonly bytes: Buffer,
    /** The JSON text of the publication at offset - 1 in this epoch, if this node saw it. */
    readonly base: string | null,
  ) {}

  /** The publication's delivery priority (absent: normal). */
  get priority(): PublicationPriority | undefined {
    return this.pub.priority;
  }

  /** The `pub` push with `data` as a JSON string of the payload's JSON text. */
  get textFrame(): Buffer {
    this.#text ??= publicationPush(this.channel, this.pub, this.epoch, JSON.stringify(this.pub.data));
    return this.#text;
  }

  /** The `pub` push carrying the delta from the previous publication; null without a base or when the delta is not smaller. */
  get deltaFrame(): Buffer | null {
    if (this.#delta === undefined) {
      const delta = this.base === null ? null : fossilDelta(this.base, this.pub.data);
      this.#delta = delta === null ? null : publicationPush(this.channel, this.pub, this.epoch, JSON.stringify(delta), true);
    }
    return this.#delta;
  }
}

/**
 * The fossil delta from one JSON text to the next, over their UTF-8 bytes, as a string of
 * one character (U+0000–U+00FF) per delta byte; null when it would not be smaller.
 */
export function fossilDelta(base: string, target: string): string | null {
  const delta = createDelta(Buffer.from(base), Buffer.from(target));
  if (delta.length >= Buffer.byteLength(target)) return null;
  return Buffer.from(delta).toString('latin1');
}
