/**
 * The name to show for a user: the `name` of their token's public `info` when it is a
 * non-empty string (set by the app's backend), else the user id. Always plain text.
 */
export function displayName(user: string, info: unknown): string {
  const name = typeof info === 'object' && info !== null ? (info as { name?: unknown }).name : undefined;
  return typeof name === 'string' && name.trim() !== '' ? name : user;
}
