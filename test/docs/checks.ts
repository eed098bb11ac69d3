import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ErrorCode } from '@switchboard/protocol';
import { builtinFeatures, parseConfig } from '@switchboard/server';
import { backendHookRequests, backendHookResponses, backendHookSchemas, RedisKeys } from '@switchboard/server/testing';
import { SignJWT } from 'jose';
import { backoffDelay } from '../../packages/client/src/backoff.js';
import { RawClient } from '../helpers/raw-client.js';
import { startTestServer } from '../helpers/server.js';
import { type DocBlock, ROOT } from './markdown.js';
import { matchJsonSample, matchTextSample, parseJsonSample } from './shape.js';
import { track } from './started.js';
import { parseWireFrames } from './wire.js';
import { SNIPPET_CAPS, SNIPPET_TENANT, type World } from './world.js';

/**
 * What stands in for running a block that is not code to run: its claims are checked
 * against the code or the running server. Each check throws with what differs.
 */

export interface CheckContext {
  world: World;
  /** Members of the types the checks inspect (see INSPECTED_TYPES), from the type checker. */
  types: Map<string, string[]>;
  scratch: string;
}

export type Check = (block: DocBlock, ctx: CheckContext) => Promise<void>;

/** The types the outline and diagram checks compare with, by the names they use. */
export const INSPECTED_TYPES: Record<string, string> = {
  FeatureModule: "import('@switchboard/server').FeatureModule",
  ClientState: "import('@switchboard/client').ClientState",
  ClientEvents: "import('@switchboard/client').ClientEvents",
  SwitchboardClient: "import('@switchboard/client').SwitchboardClient",
  FeatureHost: "import('@switchboard/client').FeatureHost",
  ClientModule: "import('@switchboard/client').ClientModule<unknown>",
  Subscription: "import('@switchboard/client').Subscription",
  NotificationsEntry: "typeof import('@switchboard/client/notifications')",
  ActivityEntry: "typeof import('@switchboard/client/activity')",
  LocksEntry: "typeof import('@switchboard/client/locks')",
  RecordsEntry: "typeof import('@switchboard/client/records')",
  DocumentsEntry: "typeof import('@switchboard/client/documents')",
  CommentsEntry: "typeof import('@switchboard/client/comments')",
  MetricsEntry: "typeof import('@switchboard/client/metrics')",
};

function fail(block: DocBlock, problems: string[]): void {
  if (problems.length > 0) throw new Error(`${block.file}:${block.line}:\n${problems.join('\n')}`);
}

function sameSet(what: string, documented: Iterable<string>, real: Iterable<string>): string[] {
  const doc = new Set(documented);
  const actual = new Set(real);
  return [
    ...[...doc].filter((x) => !actual.has(x)).map((x) => `${what}: documented "${x}" does not exist`),
    ...[...actual].filter((x) => !doc.has(x)).map((x) => `${what}: "${x}" exists but is not documented`),
  ];
}

const BIN = join(ROOT, 'packages/server/bin/switchboard.js');
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Start a server command, wait for the end of its banner, stop it with `signal`: what it
 * printed and how it exited. The banner ends with its development part when there is one
 * (printed after a token is signed); from there on the server handles SIGTERM. Each request
 * to /healthz is a turn of its event loop, so the code after the last line has run.
 */
export async function startAndStop(
  command: string,
  args: string[],
  opts: { cwd: string; env: Record<string, string>; signal?: NodeJS.Signals; stopWithin?: number },
): Promise<{ code: number | null; output: string }> {
  const child = track(spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  let exitCode: number | null | undefined;
  const outputChanged = new Set<() => void>();
  const changed = () => {
    for (const check of outputChanged) check();
  };
  child.stdout.on('data', (d) => {
    output += d;
    changed();
  });
  child.stderr.on('data', (d) => {
    output += d;
    changed();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      changed();
      resolve(code);
    }),
  );
  /** Whether `pattern` shows in the output before the process exits and within `ms`. */
  const printed = (pattern: RegExp, ms: number) =>
    new Promise<boolean>((resolve) => {
      const check = () => {
        if (!pattern.test(output) && exitCode === undefined) return;
        finish(pattern.test(output));
      };
      const timer = setTimeout(() => finish(false), ms);
      const finish = (seen: boolean) => {
        clearTimeout(timer);
        outputChanged.delete(check);
        resolve(seen);
      };
      outputChanged.add(check);
      check();
    });
  const HEALTH = /^ {2}Health: +(http\S+)/m;
  if (!(await printed(HEALTH, 60_000))) {
    child.kill('SIGKILL');
    throw new Error(`${args.join(' ')}: no banner${exitCode !== undefined ? ` (exited ${exitCode})` : ' within 60 s'}:\n${output}`);
  }
  const health = HEALTH.exec(output)?.[1] as string;
  for (let n = 0; n < 3; n++) await fetch(health).catch(() => {});
  // The development part is printed after a token is signed.
  if (/^Development mode/m.test(output)) await printed(/^ {2}Try it:/m, 2000);
  await fetch(health).catch(() => {});
  child.kill(opts.signal ?? 'SIGTERM');
  const code = await Promise.race([exited, pause(opts.stopWithin ?? 15_000).then(() => 'late' as const)]);
  if (code === 'late') {
    child.kill('SIGKILL');
    throw new Error(`${args.join(' ')}: still running ${opts.stopWithin ?? 15_000} ms after ${opts.signal ?? 'SIGTERM'}:\n${output}`);
  }
  return { code, output };
}

// ---------------------------------------------------------------- output samples

/** The README's banner of `npm start` against the banner `switchboard serve` prints with the same defaults. */
const serveBanner: Check = async (block, ctx) => {
  const { code, output } = await startAndStop(
    process.execPath,
    [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--data', './data', '--log-level', 'silent'],
    {
      cwd: ctx.scratch,
      env: { PATH: process.env['PATH'] ?? '' },
    },
  );
  if (code !== 0) throw new Error(`switchboard serve exited ${code} after SIGTERM:\n${output}`);
  const banner = output.slice(0, output.indexOf('SIGTERM')).replaceAll('127.0.0.1', 'localhost');
  fail(block, matchTextSample(block.text, banner));
};

/** An error body of the HTTP API: the shape of a real one, and a code, message and flag from the error table. */
const httpError: Check = async (block, ctx) => {
  const res = await fetch(`${ctx.world.server.httpUrl}/api/v1/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.world.server.apiKey}`, 'x-switchboard-tenant': 'acme', 'content-type': 'application/json' },
    body: JSON.stringify({ channel: 'nosuch:x', data: 1 }),
  });
  const sample = parseJsonSample(block.text) as { error: { code: number; message: string; temporary: boolean } };
  const problems = matchJsonSample(sample, await res.json());
  const known = Object.values(ErrorCode).find((e) => e.code === sample.error.code);
  if (!known) problems.push(`error code ${sample.error.code} is not in the error table`);
  else if (!sample.error.message.startsWith(known.message) || sample.error.temporary !== known.temporary) {
    problems.push(`code ${known.code} has message "${known.message}…" and temporary ${known.temporary}`);
  }
  fail(block, problems);
};

/** The body of GET /readyz. */
const readyz: Check = async (block, ctx) => {
  const res = await fetch(`${ctx.world.server.httpUrl}/readyz`);
  fail(block, matchJsonSample(parseJsonSample(block.text), await res.json()));
};

// ---------------------------------------------------------------- diagrams

/** The client's state diagram names its real states, methods and events. */
const clientStates: Check = async (block, ctx) => {
  const states = ['disconnected', 'connecting', 'connected'].filter((s) => new RegExp(`\\b${s}\\b`).test(block.text));
  const problems = sameSet('client state', states, ctx.types.get('ClientState') ?? []);
  for (const m of block.text.matchAll(/\b(\w+)\(\)/g)) {
    if (!(ctx.types.get('SwitchboardClient') ?? []).includes(m[1] as string)) problems.push(`${m[1]}() is not a method of SwitchboardClient`);
  }
  for (const m of block.text.matchAll(/"(\w+)" event/g)) {
    if (!(ctx.types.get('ClientEvents') ?? []).includes(m[1] as string)) problems.push(`"${m[1]}" is not an event of SwitchboardClient`);
  }
  fail(block, problems);
};

/** The backoff formula, evaluated, gives the SDK's delays. */
const backoff: Check = async (block) => {
  const js = block.text
    .split('\n')
    .map((l) => l.replace(/\/\/.*$/, '').trim())
    .filter(Boolean)
    .map(
      (l) =>
        `${l
          .replaceAll('−', '-')
          .replaceAll('×', '*')
          .replaceAll('^', '**')
          .replace(/\bmin\(/g, 'Math.min(')};`,
    )
    .join('\n');
  const formula = new Function('minDelay', 'maxDelay', 'factor', 'n', 'random', `let ceiling, delay;\n${js}\nreturn delay;`) as (...args: unknown[]) => number;
  const config = { minDelay: 250, maxDelay: 20_000, factor: 2, shutdownJitter: 5000 };
  const problems: string[] = [];
  for (let n = 0; n < 12; n++) {
    for (const r of [0, 0.25, 0.5, 0.999]) {
      const documented = formula(config.minDelay, config.maxDelay, config.factor, n, () => r);
      const real = backoffDelay(n, config, () => r);
      if (Math.abs(documented - real) > 0.5) problems.push(`retry ${n}, random ${r}: the formula gives ${documented}, the SDK waits ${real}`);
    }
  }
  fail(block, problems);
};

/** Every key of the documented Redis layout is one the engine makes, and every key the engine makes is documented. */
const redisKeys: Check = async (block) => {
  const k = new RedisKeys('{prefix}');
  const channel = 'tenant|channel';
  const made: Record<string, string> = {
    stream: k.stream(channel),
    idempotency: k.idempotency(channel, '<key>'),
    presence: k.presence(channel),
    topic: k.topic(channel),
    tenantConnections: k.tenantConnections('tenant'),
    userConnections: k.userConnections('tenant'),
    nodeConnections: k.nodeConnections('tenant', '<node>'),
    bucket: k.bucket('<bucket>'),
    nodes: k.nodes,
    nodePresence: k.nodePresence('<node>'),
    nodeTenants: k.nodeTenants('<node>'),
    nodeSweepLock: k.nodeSweepLock('<node>'),
    nodeSwept: k.nodeSwept('<node>'),
    nodeReplies: k.nodeReplies('<node>'),
    nodeNotes: k.nodeNotes('<node>'),
    controlTopic: k.controlTopic,
    notesTopic: k.notesTopic,
    lease: k.lease('<feature>/<key>'),
  };
  // A key the engine gains must be added above (and to the doc).
  const members = [...Object.getOwnPropertyNames(RedisKeys.prototype), ...Object.keys(k)].filter(
    (m) => !['constructor', 'channelOfTopic', 'prefix'].includes(m),
  );
  const problems = sameSet('RedisKeys member covered by this check', Object.keys(made), members);
  const documented = block.text.split('\n').flatMap((line) => {
    const [key, alt] = line
      .trim()
      .split(/\s+/)
      .filter((w, i, all) => i === 0 || (all[i - 1] === '/' && w.startsWith(':')));
    if (!key) return [];
    return alt ? [key, key.replace(/:[^:]+$/, alt)] : [key];
  });
  problems.push(...sameSet('Redis key', documented, Object.values(made)));
  fail(block, problems);
};

// ---------------------------------------------------------------- trees

function findUnder(dir: string, name: string): boolean {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === name.replace(/\/$/, '') && (name.endsWith('/') ? entry.isDirectory() : entry.isFile())) return true;
    if (entry.isDirectory() && entry.name !== 'node_modules' && findUnder(join(dir, entry.name), name)) return true;
  }
  return false;
}

/**
 * A directory tree: every path it lists exists, every file or directory named in an entry's
 * description exists under that entry, a package's name is its package.json's, and a tree
 * rooted at a directory (`server/src/`) lists all of its subdirectories.
 */
const tree: Check = async (block) => {
  const lines = block.text.split('\n').filter((l) => l.trim() !== '');
  const problems: string[] = [];
  const rootLine = /^(\S+\/)$/.exec(lines[0] as string)?.[1];
  const base = rootLine ? [join(ROOT, rootLine), join(ROOT, 'packages', rootLine)].find((p) => existsSync(p)) : ROOT;
  if (!base) {
    fail(block, [`${rootLine} does not exist`]);
    return;
  }
  let entryIndent = -1;
  let entry = base;
  const listed: string[] = [];
  for (const line of rootLine ? lines.slice(1) : lines) {
    const indent = line.length - line.trimStart().length;
    const [first = '', ...rest] = line.trim().split(/\s{2,}/);
    const description = rest.join(' ');
    const isEntry = (entryIndent === -1 || indent <= entryIndent) && /^[\w./-]+$/.test(first);
    if (isEntry) {
      entryIndent = indent;
      entry = join(base, first);
      listed.push(first.replace(/\/$/, ''));
      if (!existsSync(entry)) problems.push(`${first} does not exist`);
      const pkg = /^(@switchboard\/[\w-]+)/.exec(description)?.[1];
      if (pkg && JSON.parse(readFileSync(join(entry, 'package.json'), 'utf8')).name !== pkg) problems.push(`${first} is not the package ${pkg}`);
    }
    const text = isEntry ? description : line;
    if (!existsSync(entry)) continue;
    // Names in a directory's description are under it; in a file's, beside it.
    const dir = statSync(entry).isDirectory() ? entry : dirname(entry);
    for (const m of text.matchAll(/(?<![\w@/.-])([\w-]+(?:\.ts|\/))(?![\w])/g)) {
      if (!findUnder(dir, m[1] as string)) problems.push(`${m[1]} (under ${dir.slice(base.length + 1) || base.slice(ROOT.length + 1)}) does not exist`);
    }
  }
  if (rootLine) {
    const dirs = readdirSync(base, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    problems.push(...dirs.filter((d) => !listed.includes(d)).map((d) => `${rootLine}${d}/ is not listed`));
  }
  if (!rootLine && lines.some((l) => l.startsWith('packages/'))) {
    const packages = readdirSync(join(ROOT, 'packages')).map((p) => `packages/${p}`);
    problems.push(...packages.filter((p) => !listed.includes(p)).map((p) => `${p} is not listed`));
  }
  fail(block, problems);
};

// ---------------------------------------------------------------- outlines

/** The keys of the `defineFeature({ … })` outline are the keys of FeatureModule. */
const featureManifest: Check = async (block, ctx) => {
  const keys = [...block.text.matchAll(/^ {2}(\w+)(?::|\()/gm)].map((m) => m[1] as string);
  fail(block, sameSet('FeatureModule key', keys, ctx.types.get('FeatureModule') ?? []));
};

/** The SDK reference: the members of each class and interface, and the functions of the feature entry points. */
const clientApi: Check = async (block, ctx) => {
  const problems: string[] = [];
  let current: string | null = null;
  let members: string[] = [];
  for (const line of block.text.split('\n')) {
    const open = /^(?:class|interface) (\w+)/.exec(line);
    if (open) {
      current = open[1] as string;
      members = [];
      continue;
    }
    if (current && /^\}/.test(line)) {
      const real = ctx.types.get(current);
      if (!real) problems.push(`${current}: not a type this check knows`);
      else problems.push(...sameSet(current, members, real));
      current = null;
      continue;
    }
    if (current) {
      const code = line.replace(/\/\/.*$/, '').trim();
      const many = /^(\w+(?: \/ \w+)+) \(/.exec(code);
      if (many) members.push(...(many[1] as string).split(' / '));
      else {
        const m = /^(?:readonly )?(\w+)\s*[<(:?]/.exec(code);
        if (m && m[1] !== 'constructor') members.push(m[1] as string);
      }
      continue;
    }
    const fn = /^function (\w+)\(/.exec(line);
    if (fn) {
      const entry = {
        notifications: 'NotificationsEntry',
        activity: 'ActivityEntry',
        comments: 'CommentsEntry',
        locks: 'LocksEntry',
        records: 'RecordsEntry',
        documents: 'DocumentsEntry',
        metrics: 'MetricsEntry',
      }[fn[1] as string];
      if (!entry || !(ctx.types.get(entry) ?? []).includes(fn[1] as string)) problems.push(`function ${fn[1]} is not exported by its entry point`);
    }
  }
  fail(block, problems);
};

// ---------------------------------------------------------------- other programs' configuration

/** The nginx example: upstreams on the server's default port, proxy timeouts above the server's ping interval. */
const nginx: Check = async (block) => {
  const defaults = parseConfig({});
  const problems: string[] = [];
  for (const m of block.text.matchAll(/server [\d.]+:(\d+)/g))
    if (Number(m[1]) !== defaults.port) problems.push(`upstream port ${m[1]} is not the default ${defaults.port}`);
  for (const m of block.text.matchAll(/(proxy_\w+_timeout) (\d+)s/g)) {
    if (Number(m[2]) * 1000 <= defaults.timeouts.ping) problems.push(`${m[1]} ${m[2]}s is not above the ping interval (${defaults.timeouts.ping} ms)`);
  }
  for (const header of ['Upgrade $http_upgrade', 'Connection $connection_upgrade'])
    if (!block.text.includes(header)) problems.push(`no "${header}": the WebSocket upgrade would not pass`);
  fail(block, problems);
};

// ---------------------------------------------------------------- wire

/** Token claims as documented, signed with the server's secret: the server accepts them and enforces the capabilities. */
const tokenClaims: Check = async (block, ctx) => {
  const claims = JSON.parse(block.text) as { sub: string; tenant: string; exp: number; caps: Record<string, string[]> };
  // The example's exp is a fixed date; an hour from now has the same meaning.
  const token = await new SignJWT({ ...claims, exp: Math.floor(Date.now() / 1000) + 3600 })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(ctx.world.serverSecret));
  const client = await RawClient.connect(ctx.world.server.url, token);
  const problems: string[] = [];
  try {
    if (client.info['user'] !== claims.sub || client.info['tenant'] !== claims.tenant) problems.push(`connected as ${JSON.stringify(client.info)}`);
    for (const [pattern, actions] of Object.entries(claims.caps)) {
      const channel = pattern.replace('*', '42');
      if (actions.includes('subscribe')) {
        const reply = await client.call('subscribe', { channel });
        if (reply.error) problems.push(`subscribe ${channel} refused: ${JSON.stringify(reply.error)}`);
      }
    }
    const outside = await client.call('subscribe', { channel: 'chat:outside-the-caps' });
    if (outside.error?.code !== ErrorCode.PermissionDenied.code) problems.push(`a channel outside caps answered ${JSON.stringify(outside)}`);
  } finally {
    client.close();
  }
  fail(block, problems);
};

/** HTTP header lines: a request with them (the placeholder key replaced) is accepted; without, 401 with the challenge. */
const httpHeaders: Check = async (block, ctx) => {
  const headers = Object.fromEntries(
    block.text
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [name, ...value] = l.split(': ');
        return [name as string, value.join(': ').replace('<key>', ctx.world.server.tenantKeys['acme'] as string)];
      }),
  );
  const url = `${ctx.world.server.httpUrl}/api/v1/channels`;
  const withKey = await fetch(url, { headers });
  const without = await fetch(url);
  const problems: string[] = [];
  if (withKey.status !== 200) problems.push(`with the header: ${withKey.status} ${await withKey.text()}`);
  if (without.status !== 401 || !without.headers.get('www-authenticate')?.startsWith('Bearer'))
    problems.push(`without: ${without.status}, WWW-Authenticate ${without.headers.get('www-authenticate')}`);
  fail(block, problems);
};

/**
 * The console's response headers of docs/console.md: each line is what the server sends
 * with the page (`localhost:7070` standing for the server's host and port).
 */
const consoleHeaders: Check = async (block, ctx) => {
  const { httpUrl } = ctx.world.server;
  const res = await fetch(`${httpUrl}/console/admin`);
  await res.arrayBuffer();
  const problems: string[] = [];
  if (res.status !== 200) problems.push(`GET /console/admin: ${res.status}`);
  for (const line of block.text.split('\n').filter(Boolean)) {
    const [name, ...value] = line.split(': ');
    const expected = value.join(': ').replaceAll('localhost:7070', new URL(httpUrl).host);
    const actual = res.headers.get(name as string);
    if (actual !== expected) problems.push(`${name}: documented "${expected}", sent "${actual}"`);
  }
  fail(block, problems);
};

// ---------------------------------------------------------------- conflation

/**
 * The `pubs` push of docs/protocol.md: a server with the documented namespace option gets the
 * offsets up to `after`, then the window's range — each offset the frame leaves out carrying
 * the key of the survivor after it — and must push the documented frame (epoch and times aside).
 */
const pubsPush: Check = async (block) => {
  const doc = JSON.parse(block.text) as { channel: string; after: number; offset: number; publications: Array<{ offset: number; data: { formId: string } }> };
  const s = await startTestServer({ namespaces: { progress: { historySize: 100, conflation: { windowMs: 50, key: 'formId' } } } });
  const publish = async (data: unknown) => {
    const res = await fetch(`${s.httpUrl}/api/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'acme', 'content-type': 'application/json' },
      body: JSON.stringify({ channel: doc.channel, data }),
    });
    if (res.status !== 200) throw new Error(`publish: ${res.status} ${await res.text()}`);
  };
  try {
    for (let i = 1; i <= doc.after; i++) await publish({ formId: 'earlier', pct: i });
    const c = await RawClient.connect(s.url, await s.token({ sub: 'alice', caps: { 'progress:*': ['subscribe'] } }));
    await c.call('subscribe', { channel: doc.channel });
    for (let offset = doc.after + 1; offset <= doc.offset; offset++) {
      const survivor = doc.publications.find((p) => p.offset >= offset) as (typeof doc.publications)[number];
      await publish(survivor.offset === offset ? survivor.data : { formId: survivor.data.formId, pct: 0 });
    }
    const pushed = await c.waitFor((f) => f.push === 'pubs');
    c.close();
    const normal = (f: unknown) => JSON.stringify(f, (k, v) => (k === 'time' ? 0 : k === 'epoch' ? 'e' : v));
    if (normal(pushed) !== normal(doc)) fail(block, [`the server pushed ${JSON.stringify(pushed)}`]);
  } finally {
    await s.close();
  }
};

// ---------------------------------------------------------------- long runs

/** The benchmark command of docs/benchmarks.md: bench/compare.ts accepts every option it is given (it checks them before `--help`). */
const benchCompare: Check = async (block) => {
  const problems: string[] = [];
  const scripts = Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>);
  for (const line of block.text.split('\n').filter(Boolean)) {
    for (const m of line.matchAll(/npm run (\S+)/g)) if (!scripts.includes(m[1] as string)) problems.push(`no npm script ${m[1]}`);
    const tsx = /^npx tsx (\S+)(.*)$/.exec(line);
    if (!tsx) continue;
    const args = [...(tsx[2] as string).trim().split(/\s+/).filter(Boolean), '--help'];
    const code = await new Promise<number | null>((resolve) => {
      const child = track(spawn(process.execPath, ['--import', 'tsx', join(ROOT, tsx[1] as string), ...args], { cwd: ROOT, stdio: 'ignore' }));
      child.on('exit', resolve);
    });
    if (code !== 0) problems.push(`${tsx[1]} refused the options of: ${line} (exit ${code})`);
  }
  fail(block, problems);
};

// ---------------------------------------------------------------- backend hooks

/** A JSON Schema of docs/backend-hooks.md is the one the server's schemas produce (found by its title). */
const backendHookSchema: Check = async (block) => {
  const documented = JSON.parse(block.text) as { title?: string };
  const schemas = backendHookSchemas();
  const real = documented.title === undefined ? undefined : schemas[documented.title];
  if (real === undefined) fail(block, [`no schema titled ${JSON.stringify(documented.title)} (known: ${Object.keys(schemas).join(', ')})`]);
  if (!isDeepStrictEqual(documented, real)) fail(block, [`differs from the generated schema:\n${JSON.stringify(real, null, 2)}`]);
};

/** An example exchange: its request and answer are valid for the hook named in X-Switchboard-Hook. */
const backendHookExchange: Check = async (block) => {
  const lines = block.text.split('\n');
  const hook = /^X-Switchboard-Hook: (\w+)$/m.exec(block.text)?.[1] as keyof typeof backendHookRequests | undefined;
  const answerAt = lines.findIndex((l) => /^HTTP\/1\.1 2\d\d /.test(l));
  const request = lines.slice(0, answerAt).find((l) => l.startsWith('{'));
  const answer = lines.slice(answerAt).find((l) => l.startsWith('{'));
  if (!hook || !(hook in backendHookRequests) || answerAt === -1 || !request || !answer)
    fail(block, ['expected a POST with X-Switchboard-Hook and a JSON body, then HTTP/1.1 2xx and a JSON answer']);
  const problems: string[] = [];
  const req = backendHookRequests[hook as keyof typeof backendHookRequests].safeParse(JSON.parse(request as string));
  if (!req.success) problems.push(`request: ${req.error.message}`);
  const res = backendHookResponses[hook as keyof typeof backendHookResponses].safeParse(JSON.parse(answer as string));
  if (!res.success) problems.push(`answer: ${res.error.message}`);
  fail(block, problems);
};

// ---------------------------------------------------------------- webhooks

/**
 * A webhook body of docs/webhooks.md: `{ type, timestamp, data }` with a type of the built-in
 * catalogue, an ISO timestamp, and data its zod schema accepts (the schema that builds it).
 */
const webhookEvent: Check = async (block) => {
  const body = JSON.parse(block.text) as { type?: string; timestamp?: string; data?: unknown };
  const types = new Map(builtinFeatures().flatMap((f) => (f.events ?? []).map((e) => [e.type, e] as const)));
  const event = body.type === undefined ? undefined : types.get(body.type);
  if (!event) fail(block, [`${JSON.stringify(body.type)} is not an event type of the catalogue (known: ${[...types.keys()].join(', ')})`]);
  const problems: string[] = [];
  if (Object.keys(body).sort().join() !== 'data,timestamp,type') problems.push('a body has exactly type, timestamp and data');
  if (typeof body.timestamp !== 'string' || Number.isNaN(Date.parse(body.timestamp))) problems.push('timestamp is not an ISO date');
  const parsed = event?.data.safeParse(body.data);
  if (parsed && !parsed.success) problems.push(`data: ${parsed.error.message}`);
  fail(block, problems);
};

// ---------------------------------------------------------------- metrics

/**
 * The metric subscription exchange of docs/metrics.md, on the docs server: points go in, the
 * documented command is sent as written, and the reply, the backfill and (after more points)
 * an update must have the documented shapes.
 */
const metricFrames: Check = async (block, { world }) => {
  const [command, ...answers] = parseWireFrames(block.text);
  if (command?.direction !== '→' || answers.length !== 3) fail(block, ['expected → a metrics.subscribe, then ← its reply, a backfill and an update']);
  const id = (JSON.parse((command as { text: string }).text) as { id: number }).id;
  const ingest = () =>
    world.api('POST', '/metrics/points', {
      tenant: SNIPPET_TENANT,
      body: {
        blocks: [
          { series: 'api.latency_ms', values: [12, 30, 41] },
          { series: 'queue.depth', values: [7] },
        ],
      },
    });
  await ingest();
  const c = await RawClient.connect(world.server.url, await world.server.token({ sub: 'alice', tenant: SNIPPET_TENANT, caps: SNIPPET_CAPS }));
  try {
    const frameOf = (kind: string) => (f: Record<string, unknown>) => f['push'] === 'feature' && (f['data'] as { kind?: string } | undefined)?.kind === kind;
    c.sendRaw((command as { text: string }).text);
    const reply = await c.waitFor((f) => f.id === id);
    const backfill = await c.waitFor(frameOf('backfill'));
    await ingest();
    const update = await c.waitFor(frameOf('update'), 10_000);
    const problems = [reply, backfill, update].flatMap((actual, i) =>
      matchJsonSample(parseJsonSample((answers[i] as { text: string }).text), actual, `frame ${i + 2}`),
    );
    fail(block, problems);
  } finally {
    c.close();
  }
};

/** Checks by `<kind> <name>` (a marker without a name uses the kind's own check). */
export const CHECKS: Record<string, Check> = {
  'output serve-banner': serveBanner,
  'output http-error': httpError,
  'output readyz': readyz,
  'diagram client-states': clientStates,
  'diagram backoff': backoff,
  'diagram redis-keys': redisKeys,
  tree,
  'outline feature-manifest': featureManifest,
  'outline client-api': clientApi,
  'config nginx': nginx,
  'wire token-claims': tokenClaims,
  'wire http-headers': httpHeaders,
  'wire console-headers': consoleHeaders,
  'wire backend-hook-schema': backendHookSchema,
  'wire backend-hook-exchange': backendHookExchange,
  'wire webhook-event': webhookEvent,
  'wire pubs-push': pubsPush,
  'wire metric-frames': metricFrames,
  'long-run bench-compare': benchCompare,
};
