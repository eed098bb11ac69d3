import { ErrorCode, jsonDepth } from '@switchboard/protocol';
import { allows } from '../../auth/capabilities.js';
import type { Identity } from '../../auth/token-verifier.js';
import type { ResolvedChannel } from '../../core/channels.js';
import { can } from '../../core/permissions.js';
import { ReplyError } from '../../errors/reply-error.js';
import type { CommentSettings } from './config.js';

/**
 * Who may do what with the threads of a channel, and the configured limits of what is
 * written. Reading needs `subscribe` on the channel; writing also needs the `comment`
 * capability on it (the owner of a personal channel has it).
 */

/** Whether this identity may read the threads of a channel: exactly who may subscribe to it. */
export function mayRead(identity: Identity, ch: ResolvedChannel): boolean {
  return can(identity, ch, 'subscribe');
}

/** Whether this identity may write comments, reactions and thread changes on a channel. */
export function mayComment(identity: Identity, ch: ResolvedChannel): boolean {
  if (!mayRead(identity, ch)) return false;
  const owner = ch.options.subscribe === 'owner' && ch.name === identity.user;
  return owner || allows(identity.capabilities, ch.channel, 'comment');
}

/** Characters as people count them (code points), not UTF-16 units. */
function characters(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Refuse a body or mention list over the configured caps (114, 106). */
export function checkComment(cfg: CommentSettings, draft: { body: string; mentions?: readonly string[] | undefined }): void {
  if (draft.body.length > cfg.maxBodyChars && characters(draft.body) > cfg.maxBodyChars) {
    throw new ReplyError(ErrorCode.PayloadTooLarge, `a comment body is at most ${cfg.maxBodyChars} characters`);
  }
  if (draft.body.trim() === '') throw new ReplyError(ErrorCode.BadRequest, 'a comment body is not blank');
  const mentions = new Set(draft.mentions ?? []);
  if (mentions.size > cfg.maxMentions) throw new ReplyError(ErrorCode.LimitExceeded, `a comment mentions at most ${cfg.maxMentions} users`);
}

/** Refuse thread metadata over the configured size (114), key count (106) or depth (107). */
export function checkMetadata(cfg: CommentSettings, metadata: Record<string, unknown> | undefined): void {
  if (metadata === undefined) return;
  if (Object.keys(metadata).length > cfg.maxMetadataKeys) throw new ReplyError(ErrorCode.LimitExceeded, `metadata has at most ${cfg.maxMetadataKeys} keys`);
  if (jsonDepth(metadata, cfg.maxMetadataDepth) > cfg.maxMetadataDepth) {
    throw new ReplyError(ErrorCode.BadRequest, `metadata is nested at most ${cfg.maxMetadataDepth} levels deep`);
  }
  if (Buffer.byteLength(JSON.stringify(metadata)) > cfg.maxMetadataBytes) {
    throw new ReplyError(ErrorCode.PayloadTooLarge, `metadata is at most ${cfg.maxMetadataBytes} bytes of JSON`);
  }
}
