import { SignJWT } from 'jose';
import type { CapabilityAction } from './capabilities.js';

export interface TokenClaims {
  sub: string;
  tenant: string;
  /** Channel pattern -> allowed actions. */
  caps?: Record<string, CapabilityAction[]>;
  /** Lifetime in seconds (default one hour). */
  ttlSeconds?: number;
  info?: unknown;
  /** Channels the connection is subscribed to at connect, server-side. */
  subs?: string[];
  aud?: string;
  iss?: string;
}

/**
 * Mint an HS256 token, as an app backend would (the CLI and tests use this). `now` (Unix ms)
 * sets `iat` and `exp`: a server on an injected clock mints tokens its verifier agrees with.
 */
export async function mintToken(secret: string, claims: TokenClaims, now: () => number = Date.now): Promise<string> {
  const seconds = Math.floor(now() / 1000);
  const payload: Record<string, unknown> = { tenant: claims.tenant };
  if (claims.caps) payload['caps'] = claims.caps;
  if (claims.info !== undefined) payload['info'] = claims.info;
  if (claims.subs !== undefined) payload['subs'] = claims.subs;
  let jwt = new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt(seconds)
    .setExpirationTime(seconds + (claims.ttlSeconds ?? 3600));
  if (claims.aud) jwt = jwt.setAudience(claims.aud);
  if (claims.iss) jwt = jwt.setIssuer(claims.iss);
  return jwt.sign(new TextEncoder().encode(secret));
}
