import { SignJWT } from 'jose';

/** Claims of a load-generator connection token. */
export interface BenchTokenClaims {
  sub: string;
  tenant: string;
  /** Channel pattern -> allowed actions. */
  caps: Record<string, string[]>;
  ttlSeconds: number;
}

/** An HS256 token, as an app backend mints it: the load generator authenticates like any client. */
export function mintToken(secret: string, claims: BenchTokenClaims): Promise<string> {
  return new SignJWT({ tenant: claims.tenant, caps: claims.caps })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + claims.ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}
