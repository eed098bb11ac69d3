/**
 * What a token may do on channels matching a pattern; `comment` writes comment threads about the
 * channel (docs/comments.md); `ingest` adds points to the metric series `<series>` of channel
 * `metrics:<series>` (docs/metrics.md).
 */
export const CAPABILITY_ACTIONS = ['subscribe', 'publish', 'presence', 'history', 'signal', 'lock', 'unlock', 'comment', 'ingest'] as const;
export type CapabilityAction = (typeof CAPABILITY_ACTIONS)[number];

export interface CapabilityRule {
  pattern: string;
  matcher: RegExp;
  actions: ReadonlySet<CapabilityAction>;
}

const ACTION_SET: ReadonlySet<string> = new Set(CAPABILITY_ACTIONS);

/** Compile a channel pattern: `*` matches any run of characters, everything else is literal. */
export function compilePattern(pattern: string): RegExp {
  const escaped = pattern
    .split('*')
    .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${escaped}$`, 's');
}

/**
 * Rules parsed recently, by the claim's JSON text. Tokens of one app repeat a handful of
 * claims, so connections share their (immutable) rules instead of each compiling its own.
 */
const parsed = new Map<string, readonly CapabilityRule[]>();
const PARSED_MAX = 1000;
const NO_RULES: readonly CapabilityRule[] = Object.freeze([]);

/**
 * Parse the `caps` claim: `{"project:*": ["subscribe","publish"], "chat:lobby": ["subscribe"]}`.
 * Returns null when the claim is malformed (the whole token is then refused).
 */
export function parseCapabilities(claim: unknown): readonly CapabilityRule[] | null {
  if (claim === undefined) return NO_RULES;
  if (claim === null || typeof claim !== 'object' || Array.isArray(claim)) return null;
  const text = JSON.stringify(claim);
  const known = parsed.get(text);
  if (known) return known;
  const rules = compileCapabilities(claim as Record<string, unknown>);
  if (rules) {
    if (parsed.size >= PARSED_MAX) parsed.clear();
    parsed.set(text, rules);
  }
  return rules;
}

function compileCapabilities(claim: Record<string, unknown>): readonly CapabilityRule[] | null {
  const entries = Object.entries(claim);
  if (entries.length > 256) return null;
  const rules: CapabilityRule[] = [];
  for (const [pattern, actions] of entries) {
    if (pattern.length === 0 || pattern.length > 512 || !Array.isArray(actions)) return null;
    const set = new Set<CapabilityAction>();
    for (const a of actions) {
      if (typeof a !== 'string' || !ACTION_SET.has(a)) return null;
      set.add(a as CapabilityAction);
    }
    rules.push(Object.freeze({ pattern, matcher: compilePattern(pattern), actions: set }));
  }
  return Object.freeze(rules);
}

/** Deny by default: true only when some rule matches the channel and grants the action. */
export function allows(rules: readonly CapabilityRule[], channel: string, action: CapabilityAction): boolean {
  for (const rule of rules) if (rule.actions.has(action) && rule.matcher.test(channel)) return true;
  return false;
}

/** Parse the CLI form `pattern=action,action` into a claim entry. */
export function parseCapabilityFlag(flag: string): [string, CapabilityAction[]] | null {
  const eq = flag.lastIndexOf('=');
  if (eq <= 0) return null;
  const actions = flag
    .slice(eq + 1)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (actions.length === 0 || actions.some((a) => !ACTION_SET.has(a))) return null;
  return [flag.slice(0, eq), actions as CapabilityAction[]];
}
