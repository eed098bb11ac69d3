import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import type { CapabilityAction } from '../../auth/capabilities.js';
import type { TokenClaims } from '../../auth/mint.js';
import type { Config } from '../../config/schema.js';
import { TokenBucket } from '../../engine/token-bucket.js';
import { ReplyError } from '../../errors/reply-error.js';
import { type ApiRoute, defineRoute } from './route.js';

/** The one tenant the demo workspace's tokens are for. */
export const DEMO_TENANT = 'demo' as const;
/** The namespace of the demo workspace's channels (declared by default). */
export const DEMO_NAMESPACE = 'demo';
/** Where the route is, under /api/v1. */
export const DEMO_TOKEN_PATH = '/demo/token';
/** Lifetime of a demo token, seconds: the workspace fetches a new one when it reconnects. */
export const DEMO_TOKEN_TTL_SECONDS = 600;
/** Demo tokens one IP address may get: a burst of this many, then this many per minute. */
export const DEMO_TOKENS_PER_MINUTE = 20;
/** IP addresses whose buckets are remembered at most (full buckets are forgotten first). */
const MAX_TRACKED_ADDRESSES = 10_000;

/** The one channel of the demo namespace on which a demo token may take locks (the workspace's lock panel). */
export const DEMO_LOCK_CHANNEL = `${DEMO_NAMESPACE}:plan`;

/** The metric series of the demo tenant a demo token may follow: those of the built-in generator (`demo.requests`, `demo.latency_ms`). */
export const DEMO_METRICS = 'metrics:demo.*';

/**
 * What a demo token may do, on the demo namespace's channels only. Its shared note (a Yjs
 * document, `demo:notes`) needs nothing more than `subscribe`, `publish` and `presence`;
 * locks only `lock`, on one channel, and never `unlock` (nobody takes another's lock back);
 * and `subscribe` (read, never `ingest`) on the demo tenant's metric series named `demo.*`.
 */
export const DEMO_CAPABILITIES: Readonly<Record<string, readonly CapabilityAction[]>> = Object.freeze({
  [`${DEMO_NAMESPACE}:*`]: Object.freeze(['subscribe', 'publish', 'presence', 'history', 'signal', 'comment'] as CapabilityAction[]),
  [DEMO_LOCK_CHANNEL]: Object.freeze(['lock'] as CapabilityAction[]),
  [DEMO_METRICS]: Object.freeze(['subscribe'] as CapabilityAction[]),
});

/** Mints a token with the server's HMAC secret on its clock; null when the server has none (JWKS only). */
export type DemoTokenMinter = ((claims: TokenClaims) => Promise<string>) | null;

/** Whether the demo workspace (and so its token route) is on: development mode, or `console.demo: true`. */
export function demoEnabled(config: Readonly<Config>): boolean {
  return config.console.enabled && (config.console.demo ?? config.development);
}

/** A demo user id: letters, digits, `_` and `-`, 1–32 characters (also the `cursor-<user>` test id). */
const demoUser = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,32}$/, { message: 'expected 1–32 letters, digits, _ or -' })
  .describe('the user id to act as in the demo tenant: 1–32 letters, digits, `_` or `-`');
/** A display name: printable text without control characters, shown as text. */
const displayName = z
  .string()
  .min(1)
  .max(40)
  .refine((s) => !/\p{Cc}/u.test(s) && s.trim() !== '', 'expected 1–40 characters of text, no control characters')
  .describe('the name shown on avatars and cursors (default the user id): 1–40 characters, no control characters');

/** Per-IP token buckets, forgetting full ones when too many addresses are remembered. */
class AddressLimiter {
  readonly #buckets = new Map<string, TokenBucket>();
  constructor(private readonly now: () => number) {}

  /** 0 when the address may have a token now, else the ms until it may. */
  take(address: string): number {
    let bucket = this.#buckets.get(address);
    if (!bucket) {
      if (this.#buckets.size >= MAX_TRACKED_ADDRESSES) this.#forget();
      bucket = new TokenBucket(DEMO_TOKENS_PER_MINUTE / 60, DEMO_TOKENS_PER_MINUTE, this.now);
      this.#buckets.set(address, bucket);
    }
    return bucket.takeOrWait();
  }

  #forget(): void {
    for (const [address, bucket] of this.#buckets) if (bucket.full()) this.#buckets.delete(address);
    // Every remembered address is busy: forget the oldest half rather than grow without bound.
    if (this.#buckets.size >= MAX_TRACKED_ADDRESSES) {
      let drop = Math.ceil(this.#buckets.size / 2);
      for (const address of this.#buckets.keys()) {
        if (drop-- <= 0) break;
        this.#buckets.delete(address);
      }
    }
  }
}

/**
 * POST /demo/token: a short-lived token for the demo workspace (`/console/demo`), public
 * like the page itself, and served only while the demo is on (else the plain 404 of an
 * unknown route). Always tenant `demo`, always only the `demo:*` channels and the `demo.*`
 * metric series (plus what every user has: their own `user:{sub}` notifications);
 * rate-limited per IP address.
 */
export function demoTokenRoutes(config: Readonly<Config>, mint: DemoTokenMinter, now: () => number): ApiRoute[] {
  if (!demoEnabled(config)) return [];
  const limiter = new AddressLimiter(now);
  return [
    defineRoute({
      method: 'POST',
      url: DEMO_TOKEN_PATH,
      operationId: 'demoToken',
      tag: 'console',
      summary: 'A short-lived token for the demo workspace (development mode or console.demo only)',
      description:
        `No API key: the demo workspace's page asks for it. Exists only in development mode or with \`console.demo: true\` (else 404). ` +
        `The token is for tenant \`${DEMO_TENANT}\`, lives ${DEMO_TOKEN_TTL_SECONDS} s, and may subscribe, publish, enter presence, read history, ` +
        `send signals and comment on \`${DEMO_NAMESPACE}:*\` channels only, take locks on \`${DEMO_LOCK_CHANNEL}\`, and follow the built-in generator's metric series (\`subscribe\` on \`${DEMO_METRICS}\`). At most ${DEMO_TOKENS_PER_MINUTE} tokens per minute per IP address (429, code 111).`,
      public: true,
      body: z.strictObject({ user: demoUser, name: displayName.optional() }),
      response: z.object({
        token: z.string().describe('the JWT (HS256)'),
        tenant: z.literal(DEMO_TENANT),
        user: z.string(),
        expiresAt: z.number().int().describe('when the token expires, Unix ms'),
        capabilities: z.record(z.string(), z.array(z.string())).describe('channel pattern -> the actions the token grants'),
      }),
      errors: [429, 503],
      async handler({ body, actor }) {
        const wait = limiter.take(actor.ip ?? 'unknown');
        if (wait > 0) throw new ReplyError(ErrorCode.TooManyRequests, 'too many demo tokens from this address; retry later', wait);
        if (!mint) throw new ReplyError(ErrorCode.Unavailable, 'the server has no HMAC secret to mint demo tokens with');
        const caps = Object.fromEntries(Object.entries(DEMO_CAPABILITIES).map(([pattern, actions]) => [pattern, [...actions]]));
        const token = await mint({
          sub: body.user,
          tenant: DEMO_TENANT,
          caps,
          ttlSeconds: DEMO_TOKEN_TTL_SECONDS,
          info: { name: body.name ?? body.user },
        });
        const issued = Math.floor(now() / 1000);
        return { token, tenant: DEMO_TENANT, user: body.user, expiresAt: (issued + DEMO_TOKEN_TTL_SECONDS) * 1000, capabilities: caps };
      },
    }),
  ];
}
