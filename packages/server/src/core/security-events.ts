import { createHash } from 'node:crypto';
import type { AuthFailureReason } from '../auth/token-verifier.js';

export type { AuthFailureReason };

/**
 * Security and admin notices from core, transport and HTTP code, which know nothing of
 * features: one door (`node.security`) that features subscribe to (the audit log). Callers
 * check `active` before building a notice, so a server without subscribers pays one field
 * read; a flood is counted by its caller and reported with a `count`, never once per frame.
 */

/** Admin actions: what an API key (or an operator's tool) changed. */
export type AdminAction =
  | 'admin.user_disconnected'
  | 'admin.subscription_removed'
  | 'admin.apikey_created'
  | 'admin.apikey_revoked'
  | 'admin.webhook_created'
  | 'admin.webhook_deleted'
  | 'admin.quotas_changed'
  | 'admin.config_reloaded';

export const ADMIN_ACTIONS: readonly AdminAction[] = [
  'admin.user_disconnected',
  'admin.subscription_removed',
  'admin.apikey_created',
  'admin.apikey_revoked',
  'admin.webhook_created',
  'admin.webhook_deleted',
  'admin.quotas_changed',
  'admin.config_reloaded',
];

/** Who did an admin action: an API key's id, or `operator` (key file, signal). */
export interface Actor {
  keyId: string | null;
  ip: string | null;
}

/**
 * One notice. `tenant` null: the system scope (nothing verified names a tenant, e.g. a
 * token whose signature failed). `user` null: no verified user.
 */
export type SecurityEvent =
  | {
      type: 'auth.failed';
      tenant: string | null;
      user: string | null;
      ip: string | null;
      reason: AuthFailureReason;
      /** `tokenFingerprint(token)`: never the token. */
      fingerprint: string | null;
      /** `connect` or `refresh`. */
      command: string;
    }
  | { type: 'limit.connections'; tenant: string; user: string; ip: string | null; scope: 'user' | 'tenant' }
  | {
      type: 'limit.rate';
      tenant: string | null;
      user: string | null;
      ip: string | null;
      /** `connect` (new connections per IP), `commands` (a connection's command rate) or the command refused (`publish`, `signal`, …). */
      limit: string;
      /** Refusals this notice stands for. */
      count: number;
    }
  | { type: 'channel.forbidden'; tenant: string; user: string; ip: string | null; channel: string; action: string; reason: 'permission' | 'cross_tenant' }
  | { type: 'apikey.used'; tenant: string | null; keyId: string; ip: string | null; admin: boolean }
  | {
      type: 'apikey.failed';
      tenant: string | null;
      keyId: string | null;
      ip: string | null;
      reason: 'missing' | 'invalid' | 'wrong_tenant' | 'not_admin' | 'read_only';
    }
  | { type: AdminAction; tenant: string | null; actor: Actor; target: Readonly<Record<string, string | number | null>> };

export type SecurityEventType = SecurityEvent['type'];
export type SecurityListener = (event: SecurityEvent) => void;

/** The node's security door: notices in, subscribers out (synchronously; a throw is logged). */
export class SecurityEvents {
  #listeners: SecurityListener[] = [];

  constructor(private readonly onError: (err: unknown) => void = () => {}) {}

  /** Whether anyone listens: build a notice only when true. */
  get active(): boolean {
    return this.#listeners.length > 0;
  }

  /** Hear every notice from now on; the returned function stops it. */
  subscribe(listener: SecurityListener): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  report(event: SecurityEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}

/** A short fingerprint of a token (12 hex characters of its SHA-256): what an audit entry keeps instead of the token. */
export function tokenFingerprint(token: string | undefined): string | null {
  if (token === undefined || token.length === 0) return null;
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

/** A channel name as a notice carries it: at most 128 characters. */
export function noticeChannel(channel: unknown): string {
  return typeof channel === 'string' ? channel.slice(0, 128) : String(channel).slice(0, 128);
}
