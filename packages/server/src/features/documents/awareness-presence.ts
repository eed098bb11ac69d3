import type { Logger } from 'pino';
import type { ResolvedChannel } from '../../core/channels.js';
import type { NodeContext } from '../../core/context.js';
import type { FeaturePresence } from '../../core/feature-presence.js';

/** How often a connection's entry in the channel's presence follows its awareness, at most (its last state always goes). */
export const AWARENESS_PRESENCE_MS = 1_000;

/**
 * The presence state that shows a connection's awareness: `{ "awareness": state }`, the
 * state as its provider set it (user, cursor, selection). One above `maxBytes` keeps only
 * its `user`, and one still above keeps nothing of it.
 */
export function awarenessPresenceState(state: Record<string, unknown>, maxBytes: number): string | null {
  const fits = (s: string) => Buffer.byteLength(s) <= maxBytes;
  const whole = JSON.stringify({ awareness: state });
  if (fits(whole)) return whole;
  const user = JSON.stringify({ awareness: state['user'] === undefined ? {} : { user: state['user'] } });
  if (fits(user)) return user;
  const bare = '{"awareness":{}}';
  return fits(bare) ? bare : null;
}

export interface AwarenessMember {
  /** The connection's id on the document (unique on the cluster). */
  client: string;
  user: string;
  /** The token's public `info`, shown with the device. */
  info?: unknown;
}

/**
 * One connection's place in the presence of a document's channel while it shares awareness
 * (a provider or an SDK handle): it joins with its first awareness state, follows its
 * state at most once per `AWARENESS_PRESENCE_MS` (the last one always goes), and leaves
 * when it has no state left or closes. A user's connections are one member with one
 * device each, beside the kernel's own presence members of the channel.
 */
export class AwarenessPresence {
  #member: FeaturePresence | null = null;
  /** What to write next: a presence state, null to leave, undefined when nothing waits. */
  #next: string | null | undefined = undefined;
  #lastAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | null = null;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(
    private readonly node: NodeContext,
    private readonly ch: ResolvedChannel,
    private readonly member: AwarenessMember,
    private readonly logger: Logger,
  ) {}

  /** The connection's awareness states now (empty: it shares none). */
  changed(states: ReadonlyArray<Record<string, unknown>>): void {
    if (this.#closed || !this.ch.options.presence) return;
    const last = states[states.length - 1];
    this.#next = last === undefined ? null : awarenessPresenceState(last, this.node.limits.maxPresenceStateBytes);
    if (this.#timer) return;
    const wait = this.#lastAt + AWARENESS_PRESENCE_MS - performance.now();
    if (wait <= 0) this.#write();
    else {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#write();
      }, Math.ceil(wait));
      this.#timer.unref();
    }
  }

  /** The connection left the document (or lost the right to share awareness): its entry goes. */
  close(): Promise<void> {
    if (this.#closed) return this.#chain;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#next = null;
    return this.#queue();
  }

  #write(): void {
    this.#lastAt = performance.now();
    void this.#queue();
  }

  /** Writes run one at a time, each with the latest wanted state. */
  #queue(): Promise<void> {
    this.#chain = this.#chain
      .then(() => this.#apply())
      .catch((err: unknown) => this.logger.debug({ err, channel: this.ch.channel }, 'awareness presence not written'));
    return this.#chain;
  }

  async #apply(): Promise<void> {
    const next = this.#next;
    this.#next = undefined;
    if (next === undefined) return;
    if (next === null) {
      const member = this.#member;
      this.#member = null;
      await member?.leave();
      return;
    }
    if (this.#member) await this.#member.update(next);
    else if (!this.#closed) {
      const member = await this.node.joinPresence(this.ch, { ...this.member, state: next });
      // Closed while it joined: it leaves at once.
      if (this.#closed) await member.leave();
      else this.#member = member;
    }
  }
}
