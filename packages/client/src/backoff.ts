/** Reconnect backoff. All durations in milliseconds. */
export interface BackoffOptions {
  /** Delay of the first retry and lower bound of every delay. Default 250. */
  minDelay?: number;
  /** Upper bound of every delay. Default 20000. */
  maxDelay?: number;
  /** Growth of the upper bound per failed attempt. Default 2. */
  factor?: number;
  /** Extra random delay, up to this, after a server shutdown (close 3001). Default 5000. */
  shutdownJitter?: number;
}

export type BackoffConfig = Readonly<Required<BackoffOptions>>;

export const DEFAULT_BACKOFF: BackoffConfig = Object.freeze({
  minDelay: 250,
  maxDelay: 20_000,
  factor: 2,
  shutdownJitter: 5_000,
});

/**
 * Delay before retry number `attempt` (0-based): exponential with full jitter and a cap.
 * The window is [minDelay, ceiling] with ceiling = min(maxDelay, minDelay × factor^attempt);
 * `random()` in [0, 1) picks a point in it, counted down from the ceiling, so
 * `random = () => 0` (no jitter) gives the plain exponential sequence.
 */
export function backoffDelay(attempt: number, config: BackoffConfig, random: () => number): number {
  const growth = config.factor ** Math.min(Math.max(attempt, 0), 64);
  const ceiling = Math.min(config.maxDelay, config.minDelay * growth);
  const jitter = clamp01(random()) * (ceiling - config.minDelay);
  return Math.max(config.minDelay, Math.round(ceiling - jitter));
}

/** Extra delay after a server shutdown so that all clients of a node do not return at once. */
export function shutdownJitter(config: BackoffConfig, random: () => number): number {
  return Math.round(clamp01(random()) * config.shutdownJitter);
}

function clamp01(value: number): number {
  if (!(value > 0)) return 0;
  return Math.min(value, 1);
}
