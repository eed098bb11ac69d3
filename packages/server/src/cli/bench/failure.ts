/** A bench run that could not complete (server did not start, deadline passed, workers died): exit status 1. */
export class BenchFailure extends Error {
  override name = 'BenchFailure';
}
