/** A bench run that could not complete (server did not start, deadline passed, workers died): exit status 1. */
export class BenchFailure extends Error {
  override name = 'BenchFailure';
}

/** A missing or invalid bench argument: the CLI reports it as such (exit status 2). */
export class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}
