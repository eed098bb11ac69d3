/**
 * Programmer and operator errors (configuration, registration, startup) with stable string
 * codes. Listed in docs/errors.md; a test fails if the two disagree.
 */
export const SB_ERRORS = {
  /** A configuration value (file, environment or flag) failed validation. */
  SB_ERR_CONFIG_INVALID: 'invalid configuration',
  /** The configuration file could not be read or is not JSON. */
  SB_ERR_CONFIG_FILE: 'configuration file unreadable',
  /** No token secret or public key is configured outside development mode. */
  SB_ERR_NO_TOKEN_KEY: 'no token verification key configured',
  /** A feature was registered twice. */
  SB_ERR_FEATURE_DUPLICATE: 'feature registered twice',
  /** A feature depends on a feature that is not registered before it. */
  SB_ERR_FEATURE_DEPENDENCY: 'feature dependency missing',
  /** A feature declares a hook name that does not exist. */
  SB_ERR_FEATURE_HOOK: 'unknown hook name',
  /** A feature adds a command whose method already exists. */
  SB_ERR_FEATURE_COMMAND: 'command already exists',
  /** A feature manifest clashes with the kernel or another feature (config key, namespace, migration, route, error code). */
  SB_ERR_FEATURE_MANIFEST: 'feature manifest conflict',
  /** A feature looked up a service it does not depend on, or that its dependency does not provide. */
  SB_ERR_FEATURE_SERVICE: 'feature service unavailable',
  /** The port is in use or the address cannot be bound. */
  SB_ERR_LISTEN: 'cannot listen',
  /** The TLS certificate or key file (`tlsCert`, `tlsKey`) cannot be read, holds no PEM certificate or key, cannot be decrypted, or the two do not match. */
  SB_ERR_TLS: 'TLS certificate or key unusable',
  /** A CLI argument is missing or invalid. */
  SB_ERR_CLI_ARGS: 'invalid command line',
  /** `switchboard bench` ran where the load generator package (@switchboard/loadgen) is not installed. */
  SB_ERR_LOADGEN_MISSING: 'load generator not installed',
  /** The database (SQLite file or PostgreSQL) cannot be opened or migrated. */
  SB_ERR_STORAGE: 'storage unavailable',
} as const;

export type SbErrorCode = keyof typeof SB_ERRORS;
/** A code a feature declares in its manifest (`errors`), listed in that feature's docs. */
export type FeatureErrorCode = `SB_ERR_${string}`;

export class SwitchboardError extends Error {
  constructor(
    readonly code: SbErrorCode | FeatureErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'SwitchboardError';
  }
}

export function createError(code: SbErrorCode, detail?: string): SwitchboardError {
  return new SwitchboardError(code, detail ?? SB_ERRORS[code]);
}
