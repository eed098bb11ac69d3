import { TENANT_RE, USER_RE } from '@switchboard/protocol';
import {
  type CryptoKey,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  importSPKI,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import type { Config } from '../config/schema.js';
import { type CapabilityRule, parseCapabilities } from './capabilities.js';

/** A verified identity: the only source of tenant and user for a connection. */
export interface Identity {
  user: string;
  tenant: string;
  /** The token's `exp`, Unix ms (the connection ends at `validUntil`: exp + clock skew); Infinity: never (a feature's identity). */
  expires: number;
  capabilities: readonly CapabilityRule[];
  /** Optional public info the app put in the token (`info` claim), shown in presence. */
  info?: unknown;
  /** Channels the connection is subscribed to at connect (`subs` claim), server-side. */
  subs?: readonly string[];
}

/** Most channels a token's `subs` claim may name. */
const MAX_TOKEN_SUBS = 1024;

export type TokenFailure = 'invalid' | 'expired';

/** Why a connection token was refused (what the audit log's `auth.failed` entries say). */
export type AuthFailureReason =
  | 'missing'
  | 'too_large'
  | 'malformed'
  | 'alg_not_allowed'
  | 'no_key'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'invalid_claims'
  | 'lifetime_too_long'
  | 'wrong_tenant_key';

/**
 * The one expiry rule, applied at `connect`, at `refresh` and to the connection a token
 * opened: a token is valid until `exp + auth.clockSkew` (Unix ms). `Identity.expires` stays
 * the real `exp`, which replies tell the client so it refreshes before the grace begins.
 */
export function validUntil(identity: Pick<Identity, 'expires'>, clockSkew: number): number {
  return identity.expires + clockSkew;
}

/** Who a refused token names when its signature was verified (expired, wrong audience, bad claims). */
export interface VerifiedClaims {
  tenant: string;
  user: string;
}

export class TokenError extends Error {
  constructor(
    readonly failure: TokenFailure,
    message: string,
    /** What the audit log records. */
    readonly reason: AuthFailureReason = failure === 'expired' ? 'expired' : 'invalid_claims',
    /** Set only when the signature was verified: tenant and user are then the token issuer's word. */
    readonly verified: VerifiedClaims | null = null,
  ) {
    super(message);
  }
}

/** Tenant and user of a verified payload, when both are well-formed and the key may speak for that tenant. */
function claimsOf(payload: JWTPayload | undefined, scopeTenant: string | undefined): VerifiedClaims | null {
  const tenant = payload?.['tenant'];
  const sub = payload?.sub;
  if (typeof tenant !== 'string' || !TENANT_RE.test(tenant) || typeof sub !== 'string' || !USER_RE.test(sub)) return null;
  if (scopeTenant !== undefined && scopeTenant !== tenant) return null;
  return { tenant, user: sub };
}

const CLAIM_REASON: Readonly<Record<string, AuthFailureReason>> = { aud: 'wrong_audience', iss: 'wrong_issuer', nbf: 'not_yet_valid', exp: 'expired' };

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];

interface PublicKeyEntry {
  kid?: string;
  alg: string;
  key: CryptoKey;
  issuer?: string;
  tenant?: string;
}

interface JwksEntry {
  issuer: string;
  tenant?: string;
  algorithms: string[];
  get: JWTVerifyGetKey;
}

/**
 * Verifies connection tokens. Algorithms are pinned per key: HMAC only with the shared
 * secret, asymmetric algorithms only with their own public key; `none` never. JWKS keys
 * come only from configured URLs, chosen by the configured issuer.
 */
export class TokenVerifier {
  /** The shared secret imported once per HMAC algorithm (importing it per verify costs more than the verify). */
  readonly #secretKeys: Map<string, CryptoKey> | null;
  readonly #publicKeys: PublicKeyEntry[];
  readonly #jwks: JwksEntry[];
  readonly #now: () => number;

  private constructor(
    private readonly auth: Config['auth'],
    secretKeys: Map<string, CryptoKey> | null,
    publicKeys: PublicKeyEntry[],
    jwks: JwksEntry[],
    now: () => number,
  ) {
    this.#secretKeys = secretKeys;
    this.#publicKeys = publicKeys;
    this.#jwks = jwks;
    this.#now = now;
  }

  /** `now` is the clock (Unix ms) that `exp`, `nbf` and `iat` are checked against. */
  static async create(auth: Config['auth'], secret: string | undefined, now: () => number = Date.now): Promise<TokenVerifier> {
    const keys: PublicKeyEntry[] = [];
    for (const k of auth.publicKeys) {
      const entry: PublicKeyEntry = { alg: k.alg, key: await importSPKI(k.pem, k.alg) };
      if (k.kid !== undefined) entry.kid = k.kid;
      if (k.issuer !== undefined) entry.issuer = k.issuer;
      if (k.tenant !== undefined) entry.tenant = k.tenant;
      keys.push(entry);
    }
    const jwks = auth.jwks.map((j) => {
      const e: JwksEntry = { issuer: j.issuer, algorithms: j.algorithms, get: createRemoteJWKSet(new URL(j.url)) };
      if (j.tenant !== undefined) e.tenant = j.tenant;
      return e;
    });
    let secretKeys: Map<string, CryptoKey> | null = null;
    if (secret) {
      const raw = new TextEncoder().encode(secret);
      secretKeys = new Map();
      for (const alg of HMAC_ALGS) {
        const hash = `SHA-${alg.slice(2)}`;
        secretKeys.set(alg, await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash }, false, ['verify']));
      }
    }
    return new TokenVerifier(auth, secretKeys, keys, jwks, now);
  }

  async verify(token: unknown): Promise<Identity> {
    if (typeof token !== 'string' || token.length === 0) throw new TokenError('invalid', 'token required', 'missing');
    if (token.length > this.auth.maxTokenBytes) throw new TokenError('invalid', 'token too large', 'too_large');
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      throw new TokenError('invalid', 'malformed token', 'malformed');
    }
    const alg = header.alg;
    if (typeof alg !== 'string' || alg === 'none') throw new TokenError('invalid', 'algorithm not allowed', 'alg_not_allowed');
    const now = this.#now();
    // jose checks time in whole seconds: give it one second more than the skew, so that the
    // millisecond checks in #identity (the rule) are the ones that refuse.
    const tolerance = Math.ceil(this.auth.clockSkew / 1000) + 1;
    const common = {
      requiredClaims: ['exp', 'sub'],
      currentDate: new Date(now),
      clockTolerance: tolerance,
      ...(this.auth.audience ? { audience: this.auth.audience } : {}),
    };

    let payload: JWTPayload;
    let scopeTenant: string | undefined;
    try {
      if (HMAC_ALGS.includes(alg)) {
        const key = this.#secretKeys?.get(alg);
        if (!key) throw new TokenError('invalid', 'algorithm not allowed', 'alg_not_allowed');
        ({ payload } = await jwtVerify(token, key, { ...common, algorithms: [alg], ...(this.auth.issuer ? { issuer: this.auth.issuer } : {}) }));
      } else {
        const key = this.#publicKeys.find(
          (k) => k.alg === alg && (header.kid === undefined || k.kid === header.kid) && (k.issuer === undefined || k.issuer === unverified.iss),
        );
        if (key) {
          scopeTenant = key.tenant;
          ({ payload } = await jwtVerify(token, key.key, { ...common, algorithms: [key.alg], ...(key.issuer ? { issuer: key.issuer } : {}) }));
        } else {
          const jwks = this.#jwks.find((j) => j.issuer === unverified.iss && j.algorithms.includes(alg));
          if (!jwks) throw new TokenError('invalid', 'no key for this token', 'no_key');
          scopeTenant = jwks.tenant;
          ({ payload } = await jwtVerify(token, jwks.get, { ...common, algorithms: jwks.algorithms, issuer: jwks.issuer }));
        }
      }
    } catch (err) {
      if (err instanceof TokenError) throw err;
      // jose checks the signature before the claims: these two carry a verified payload.
      if (err instanceof joseErrors.JWTExpired) throw new TokenError('expired', 'token expired', 'expired', claimsOf(err.payload, scopeTenant));
      if (err instanceof joseErrors.JWTClaimValidationFailed)
        throw new TokenError('invalid', `claim ${err.claim} invalid`, CLAIM_REASON[err.claim] ?? 'invalid_claims', claimsOf(err.payload, scopeTenant));
      if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw new TokenError('invalid', 'signature or format invalid', 'bad_signature');
      throw new TokenError('invalid', 'signature or format invalid', 'malformed');
    }
    try {
      return this.#identity(payload, scopeTenant, now);
    } catch (err) {
      if (err instanceof TokenError) throw new TokenError(err.failure, err.message, err.reason, claimsOf(payload, scopeTenant));
      throw err;
    }
  }

  #identity(payload: JWTPayload, scopeTenant: string | undefined, now: number): Identity {
    const { sub, exp } = payload;
    const tenant = payload['tenant'];
    if (typeof exp !== 'number') throw new TokenError('invalid', 'exp required');
    const skew = this.auth.clockSkew;
    if (typeof payload.nbf === 'number' && now < payload.nbf * 1000 - skew) throw new TokenError('invalid', 'claim nbf invalid', 'not_yet_valid');
    if (now >= validUntil({ expires: exp * 1000 }, skew)) throw new TokenError('expired', 'token expired');
    if (typeof sub !== 'string' || !USER_RE.test(sub)) throw new TokenError('invalid', 'sub invalid');
    if (typeof tenant !== 'string' || !TENANT_RE.test(tenant)) throw new TokenError('invalid', 'tenant invalid');
    if (scopeTenant !== undefined && scopeTenant !== tenant) throw new TokenError('invalid', 'key not valid for this tenant', 'wrong_tenant_key');
    const start = typeof payload.iat === 'number' ? Math.min(payload.iat, now / 1000) : now / 1000;
    if ((exp - start) * 1000 > this.auth.maxTokenLifetime + this.auth.clockSkew)
      throw new TokenError('invalid', 'token lifetime too long', 'lifetime_too_long');
    const capabilities = parseCapabilities(payload['caps']);
    if (!capabilities) throw new TokenError('invalid', 'caps claim invalid');
    const identity: Identity = { user: sub, tenant, expires: exp * 1000, capabilities };
    if (payload['info'] !== undefined) identity.info = payload['info'];
    const subs = payload['subs'];
    if (subs !== undefined) {
      if (!Array.isArray(subs) || subs.length > MAX_TOKEN_SUBS || !subs.every((c) => typeof c === 'string' && c.length > 0 && c.length <= 1024))
        throw new TokenError('invalid', 'subs claim invalid');
      identity.subs = [...new Set(subs as string[])];
    }
    return identity;
  }
}
