/**
 * The one table that turns a documented command or snippet into one that runs here: the
 * docs speak of `localhost:7070`, `$KEY`, `sb_…` and a Redis at `redis.internal`; the test
 * has a server on a random port, real keys and a scratch directory. Every rewrite is listed
 * here, with why; nothing else in a block is changed.
 */

export interface Values {
  /** The shared test server. */
  httpUrl: string;
  wsUrl: string;
  /** Admin API key (names the tenant per request). */
  adminKey: string;
  /** API key of tenant acme (`switchboard apikey create --tenant acme`). */
  acmeKey: string;
  /** A token for the snippets' user (SB_TOKEN). */
  token: string;
  /** A 48-character HMAC secret (SB_SECRET, and where a doc writes `…` for a secret). */
  secret: string;
  /** The block's scratch directory (its working directory). */
  scratch: string;
  root: string;
  /** Epoch of channel project:42 of tenant acme right now (for queries that name a position). */
  acmeEpoch?: string;
  /** A PostgreSQL URL with a fresh schema, for `switchboard migrate --database`. */
  postgresUrl?: string;
}

export interface Substitution {
  doc: string | RegExp;
  real: (v: Values) => string | undefined;
  why: string;
}

export const SUBSTITUTIONS: Substitution[] = [
  { doc: 'http://localhost:7070', real: (v) => v.httpUrl, why: 'the documented default address is the shared test server' },
  { doc: 'ws://localhost:7070', real: (v) => v.wsUrl.replace(/\/ws$/, ''), why: 'the same, for WebSocket URLs' },
  { doc: 'wss://rt.example.com', real: (v) => v.wsUrl.replace(/\/ws$/, ''), why: 'the example production host is the shared test server' },
  { doc: 'sb_…', real: (v) => v.acmeKey, why: 'a placeholder API key: the key of tenant acme' },
  { doc: 'Jd0xq3_A', real: (v) => v.acmeEpoch, why: "an example epoch in a query: the channel's real one" },
  {
    doc: '2031-01-05T08:55:00Z',
    real: () => new Date(Date.now() + 3_600_000).toISOString(),
    why: 'an example publishAt: an hour from now (a fixed date would leave the allowed window)',
  },
  { doc: 'port: 7071', real: () => 'port: 0', why: 'a library snippet listens on a free port' },
  { doc: '…at least 32 characters…', real: (v) => v.secret, why: 'a placeholder secret' },
  { doc: 'SWITCHBOARD_SECRET=…', real: (v) => `SWITCHBOARD_SECRET=${v.secret}`, why: 'a placeholder secret' },
  { doc: '/usr/bin/node', real: () => process.execPath, why: 'where node is on this machine' },
  { doc: '/srv/switchboard', real: (v) => v.root, why: 'the checkout is the repository under test' },
  { doc: '/var/lib/switchboard', real: (v) => `${v.scratch}/var-lib-switchboard`, why: 'data goes to the scratch directory' },
  { doc: 'redis.internal', real: () => '127.0.0.1', why: 'the local Redis (keys under a prefix of the run: SWITCHBOARD_REDIS_PREFIX)' },
  { doc: 'postgres://app@db/switchboard', real: (v) => v.postgresUrl, why: 'the local PostgreSQL, in a schema of the run' },
  { doc: /(^|\s)node packages\//gm, real: (v) => `$1node ${v.root}/packages/`, why: 'blocks run in a scratch directory, not the repository root' },
  // Load tests at the documented sizes take minutes: the same scenarios, small.
  { doc: 'bench connect --connections 5000', real: () => 'bench connect --connections 10 --hold 0s', why: 'a small load test' },
  {
    doc: 'bench fanout --subscribers 1000 --rate 100',
    real: () => 'bench fanout --subscribers 10 --rate 10 --duration 1s --warmup 0s',
    why: 'a small load test',
  },
  { doc: 'bench reconnect-storm --clients 10000', real: () => 'bench reconnect-storm --clients 10 --before 500ms --after 500ms', why: 'a small load test' },
  { doc: /bench load-100$/gm, real: () => 'bench load-100 --connections 10 --messages 1', why: 'a small load test' },
  {
    doc: 'bench documents --editors 50 --rate 2000',
    real: () => 'bench documents --editors 4 --rate 100 --duration 1s --warmup 0s',
    why: 'a small load test',
  },
  {
    doc: /bench comments --storage (sqlite|postgres)/g,
    real: () => 'bench comments --storage $1 --watchers 10 --users 5 --rate 50 --duration 500ms --comment-rate 10 --comment-duration 500ms',
    why: 'a small load test',
  },
  {
    doc: /bench locks --nodes (\d) --storage postgres/g,
    real: () => 'bench locks --nodes $1 --storage postgres --clients 3 --duration 500ms --contenders 9 --bursts 2 --cycles 20 --drops 1',
    // Not a short presence TTL: on a loaded machine a live node missing a 5 s TTL is taken for dead and its locks are released under their holders (a release then answers 117).
    why: 'a small load test (the node kill waits the default presence TTL)',
  },
  {
    doc: /bench webhooks --storage (sqlite|postgres) --events \d+ --failing-events \d+ --outage \S+( --outage-rate \d+)?/g,
    real: () => 'bench webhooks --storage $1 --events 40 --failing-events 20 --outage 1s --outage-rate 40 --recipients 4 --forged 0',
    // The forged-token storm waits for its audit rows' minute window: test/cli-bench.test.ts runs it.
    why: 'a small load test (every phase, the backlog drain after a 1 s outage; no forged-token storm)',
  },
  {
    // A whole command line with --warmup (its options vary: paced, batched drain, outage).
    doc: /bench webhooks --storage (sqlite|postgres) --events \d+ --warmup \d+[^\n]*/g,
    real: () =>
      'bench webhooks --storage $1 --events 40 --warmup 20 --failing-events 20 --outage 1s --outage-rate 40 --outage-batch 10 --rate 400 --recipients 4 --forged 0 --json',
    why: 'a small load test (a warm-up, paced phases, the backlog drain to a batching endpoint after a 1 s outage; no forged-token storm)',
  },
  {
    doc: /bench metrics-ingest --duration 1s --spread-series 0 --socket-duration 15s --workers 2/g,
    real: () =>
      'bench metrics-ingest --duration 1s --batch 500 --parallel 2 --spread-series 0 --socket-clients 3 --socket-duration 1s --socket-rate 600 --workers 2',
    why: 'a small load test',
  },
  {
    doc: /bench locks --storage (sqlite|postgres)/g,
    real: () => 'bench locks --storage $1 --clients 3 --duration 500ms --contenders 10 --bursts 2 --cycles 20 --drops 1',
    why: 'a small load test',
  },
];
// Also: a port a shell block opens itself (`--port N`) is a free port throughout that block
// (shell.ts), and a `switchboard bench` command line that already ran in this test run is not
// run again: its output and exit status are reused (the same small run, on a fresh server).

/** Apply the table to a block's text. Throws when a placeholder appears whose value the block's context does not have. */
export function substitute(text: string, values: Values): string {
  let out = text;
  for (const s of SUBSTITUTIONS) {
    const present = typeof s.doc === 'string' ? out.includes(s.doc) : new RegExp(s.doc.source, s.doc.flags.replace('g', '')).test(out);
    if (!present) continue;
    const real = s.real(values);
    if (real === undefined) throw new Error(`the block uses ${String(s.doc)} but this test gives it no value (${s.why})`);
    out = typeof s.doc === 'string' ? out.replaceAll(s.doc, real) : out.replace(s.doc, real);
  }
  return out;
}

/** Environment of shell blocks and Node snippets: the variables the docs use, and defaults that keep servers on free ports. */
export function environment(values: Values, runId: string): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: values.scratch,
    SB: `${values.httpUrl}/api/v1`,
    KEY: values.acmeKey,
    SB_API_KEY: values.adminKey,
    SB_TOKEN: values.token,
    SB_SECRET: values.secret,
    SB_URL: values.wsUrl,
    // A server a block starts without --port listens on a free port of 127.0.0.1, never on 7070.
    SWITCHBOARD_PORT: '0',
    SWITCHBOARD_HOST: '127.0.0.1',
    SWITCHBOARD_LOG_LEVEL: 'warn',
    SWITCHBOARD_REDIS_PREFIX: `docs-${runId}`,
  };
}

/** The inverse, for comparing what a command printed with its documented sample: the rewrites `doc` needed, longest value first. */
export function unsubstitute(text: string, values: Values, doc: string): string {
  const applied = SUBSTITUTIONS.flatMap((s) => {
    const real = typeof s.doc === 'string' && doc.includes(s.doc) ? s.real(values) : undefined;
    return real ? [{ doc: s.doc as string, real }] : [];
  }).sort((a, b) => b.real.length - a.real.length);
  return applied.reduce((out, s) => out.replaceAll(s.real, s.doc), text);
}
