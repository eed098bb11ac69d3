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
  aud?: string;
  iss?: string;
}

/** Mint an HS256 token, as an app backend would (the CLI and tests use this). */
export async function mintToken(secret: string, claims: TokenClaims): Promise<string> {
  const payload: Record<string, unknown> = { tenant: claims.tenant };
  if (claims.caps) payload['caps'] = claims.caps;
  if (claims.info !== undefined) payload['info'] = claims.info;
  let jwt = new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (claims.ttlSeconds ?? 3600));
  if (claims.aud) jwt = jwt.setAudience(claims.aud);
  if (claims.iss) jwt = jwt.setIssuer(claims.iss);
  return jwt.sign(new TextEncoder().encode(secret));
}
