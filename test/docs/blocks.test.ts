import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseConfig } from '@switchboard/server';
import { PayloadSchemas } from '@switchboard/server/testing';
import { afterAll, beforeAll, describe, expect, it, type RunnerTask, type RunnerTestFile, type RunnerTestSuite } from 'vitest';
import { createTestDatabase } from '../durable/helpers.js';
import { CHROMIUM } from '../helpers/chromium.js';
import { BrowserSnippets } from './browser-snippets.js';
import { CHECKS, INSPECTED_TYPES, startAndStop } from './checks.js';
import { type DocBlock, docFiles, extractBlocks, NOT_RUN_KINDS, type NotRunKind, ROOT } from './markdown.js';
import { NodeSnippets } from './node-snippets.js';
import { matchTextSample } from './shape.js';
import { parseTranscript, runShellBlock } from './shell.js';
import { type Program, runtimeModule, type Snippet, snippetId, snippetMode, toJavaScript, typecheck } from './snippets.js';
import { killStarted } from './started.js';
import { environment, substitute, unsubstitute, type Values } from './substitutions.js';
import { typecheckTsx } from './tsx.js';
import { checkWireFrames } from './wire.js';
import { World } from './world.js';

/**
 * Every fenced block of README.md and docs/*.md is run, or — output samples, trees,
 * diagrams, wire formats and the like, marked `<!-- doc-test: <kind> [check] -->` — checked
 * against the code or the running server, so the docs cannot drift from what they describe.
 */

type Outcome = 'run' | 'checked' | 'skipped';

interface Plan {
  outcome: Outcome;
  /** What the test does with the block, for its name. */
  how: string;
  timeout: number;
  /** Needs Chromium. */
  browser?: boolean;
  /** Uses nothing of the shared server: started in the background at the start, with others like it. */
  isolated?: boolean;
  execute(): Promise<void>;
}

const RUN_TIMEOUT = 20_000;
const BUDGET = { shell: 240_000, snippet: 30_000, check: 30_000 };
/** Isolated blocks run this many at a time, beside the others (most of their time is spent waiting for servers to start). */
const PARALLEL = 3;

const blocks = docFiles().flatMap((file) => extractBlocks(file));
const tally = new Map<string, Record<Outcome, number>>();

let world: World;
let program: Program;
let nodeSnippets: NodeSnippets;
let browser: BrowserSnippets;
let moduleDir: string;
let scripts: string[];
let cache: string;
const snippets = new Map<string, Snippet>();
const plans = new Map<DocBlock, Plan | Error>();
const prefetched = new Map<DocBlock, Promise<Error | null>>();

const isSnippet = (b: DocBlock) =>
  ['ts', 'typescript', 'js', 'javascript', 'mts'].includes(b.info) && (!b.marker || b.marker.kind === 'browser' || b.marker.kind === 'feature-method');
const isShell = (b: DocBlock) => ['sh', 'bash', 'shell', 'console'].includes(b.info);
/** A shell block that talks only to servers it starts itself. */
const isolated = (b: DocBlock) =>
  (!b.text.includes('localhost:7070') || /--port[ =]7070\b/.test(b.text)) && !/\$(SB|KEY|SB_API_KEY|SB_TOKEN)\b/.test(b.text) && !b.text.includes('sb_…');

// biome-ignore lint/correctness/noEmptyPattern: vitest reads the first parameter as a fixture pattern; the file comes second
beforeAll(async ({}, file) => {
  world = await World.start();
  scripts = Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>);
  moduleDir = join(ROOT, `.vitest-docs-${world.runId}`);
  mkdirSync(moduleDir);
  const values = world.values(world.scratch());
  for (const block of blocks.filter(isSnippet)) {
    const id = snippetId(block);
    snippets.set(id, { block, id, mode: snippetMode(block), source: substitute(block.text, values) });
  }
  program = typecheck([...snippets.values()], INSPECTED_TYPES);
  const runnerDir = world.scratch();
  nodeSnippets = new NodeSnippets(runnerDir, environment(world.values(runnerDir), world.runId));
  browser = new BrowserSnippets({ wsUrl: world.server.url, token: world.snippetToken });
  cache = world.scratch();
  const slots = Array.from({ length: PARALLEL }, () => Promise.resolve());
  let next = 0;
  const selected = selectedBlocks(file);
  for (const [block, p] of plans) {
    if (p instanceof Error || !p.isolated || !selected.has(block)) continue;
    const slot = next++ % PARALLEL;
    const done = (slots[slot] as Promise<void>).then(() =>
      p.execute().then(
        () => null,
        (err: Error) => err,
      ),
    );
    slots[slot] = done.then(() => {});
    prefetched.set(block, done);
  }
}, 120_000);

afterAll(async () => {
  await nodeSnippets?.close();
  await browser?.close();
  await world?.close();
  // What a block left running (a timed-out test's block is still going): stopped here, by pid.
  const leftovers = killStarted();
  if (leftovers.length > 0) process.stdout.write(`\ndocs code blocks: killed ${leftovers.length} process(es) left running: ${leftovers.join(' ')}\n`);
  if (moduleDir) rmSync(moduleDir, { recursive: true, force: true });
  const rows = [...tally].map(([file, t]) => `  ${file.padEnd(24)} run ${t.run}, checked ${t.checked}, skipped ${t.skipped}`);
  process.stdout.write(`\ndocs code blocks:\n${rows.join('\n')}\n`);
});

/** The test of each block, by its suite and test name. */
const testOf = new Map<string, DocBlock>();
const testKey = (suite: string, test: string) => `${suite}\u0000${test}`;

/** The blocks whose tests this run runs (`-t` and `.only` leave the others skipped): only those are started early. */
function selectedBlocks(file: Readonly<RunnerTestSuite | RunnerTestFile>): Set<DocBlock> {
  const selected = new Set<DocBlock>();
  const walk = (task: RunnerTask) => {
    if (task.type === 'suite') for (const t of task.tasks) walk(t);
    else if (task.mode === 'run' || task.mode === 'only') {
      const block = testOf.get(testKey(task.suite?.name ?? '', task.name));
      if (block) selected.add(block);
    }
  };
  for (const t of file.tasks) walk(t);
  return selected;
}

/** Values of the substitution table for one block (the dynamic ones read now). */
async function valuesFor(block: DocBlock, scratch: string): Promise<Values> {
  const extra: Partial<Values> = {};
  if (block.text.includes('Jd0xq3_A')) extra.acmeEpoch = await world.acmeEpoch();
  return world.values(scratch, extra);
}

async function shell(block: DocBlock, opts: { stdoutOnly?: boolean; text?: string } = {}) {
  const scratch = world.scratch();
  if (!isolated(block)) await world.aliceOnline();
  const values = await valuesFor(block, scratch);
  const database = block.text.includes('postgres://app@db/') ? await createTestDatabase('postgres') : null;
  if (database) values.postgresUrl = database.database;
  try {
    const run = await runShellBlock(
      { ...block, text: opts.text ?? block.text },
      {
        values,
        env: environment(values, world.runId),
        scripts,
        cache,
        timeout: BUDGET.shell,
        ...(opts.stdoutOnly ? { stdoutOnly: true } : {}),
      },
    );
    return { run, values };
  } finally {
    await database?.drop();
  }
}

async function transcript(block: DocBlock): Promise<void> {
  const steps = parseTranscript(block.text);
  const { run, values } = await shell(block, { stdoutOnly: true, text: steps.map((s) => s.command).join('\n') });
  const problems = steps.flatMap((step, i) =>
    matchTextSample(step.sample, unsubstitute(run.outputs[i] ?? '', values, step.command), [['PASS', 'FAIL', 'MISS', 'met']]).map(
      (p) => `$ ${step.command}\n${p}`,
    ),
  );
  if (problems.length > 0) throw new Error(`${block.file}:${block.line}: the output differs from the documented one:\n${problems.join('\n')}`);
}

async function snippet(block: DocBlock): Promise<void> {
  const s = snippets.get(snippetId(block)) as Snippet;
  const checked = program.snippets.get(s.id);
  expect(checked?.errors ?? [], 'type errors').toEqual([]);
  const scratch = world.scratch();
  const source = runtimeModule(s, checked?.givens ?? [], scratch);
  if (s.mode === 'browser') {
    expect(await browser.runModule(toJavaScript(source), BUDGET.snippet)).toEqual([]);
    return;
  }
  const file = join(moduleDir, `${s.id}.mts`);
  writeFileSync(file, source);
  if (s.mode === 'vitest') {
    const { vi } = await import('vitest');
    process.env['SB_URL'] = world.server.url;
    process.env['SB_TOKEN'] = world.snippetToken;
    try {
      await import(pathToFileURL(file).href);
    } finally {
      vi.useRealTimers();
    }
    return;
  }
  expect(await nodeSnippets.run(s.id, file, BUDGET.snippet)).toEqual([]);
}

async function page(block: DocBlock): Promise<void> {
  const html = substitute(block.text, world.values(world.scratch()));
  expect(await browser.runHtml(html, BUDGET.snippet)).toEqual([]);
}

/** A systemd unit: its ExecStart, in its WorkingDirectory with its Environment, must start and stop on its KillSignal with 0. */
async function unit(block: DocBlock): Promise<void> {
  const scratch = world.scratch();
  const text = substitute(block.text, world.values(scratch));
  const keys = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line.trim());
    if (m) keys.set(m[1] as string, m[2] as string);
  }
  const [exec, ...args] = (keys.get('ExecStart') ?? '').split(/\s+/);
  expect(exec, 'ExecStart').toBe(process.execPath);
  const env: Record<string, string> = { ...environment(world.values(scratch), world.runId) };
  for (const pair of (keys.get('Environment') ?? '').split(/\s+/).filter(Boolean)) {
    const [name, ...value] = pair.split('=');
    env[name as string] = value.join('=');
  }
  const signal = (keys.get('KillSignal') ?? 'SIGTERM') as NodeJS.Signals;
  const { code, output } = await startAndStop(exec as string, args, {
    cwd: keys.get('WorkingDirectory') ?? ROOT,
    env,
    signal,
    stopWithin: Number(keys.get('TimeoutStopSec') ?? '90') * 1000,
  });
  expect(code, `exit after ${signal}: ${output}`).toBe(0);
}

function config(block: DocBlock): void {
  const input = JSON.parse(substitute(block.text, world.values(world.scratch()))) as Record<string, unknown>;
  expect(() => parseConfig(input)).not.toThrow();
  // Payload schemas compile as the node compiles them at start.
  expect(() => new PayloadSchemas(parseConfig(input).namespaces)).not.toThrow();
}

/** Every TSX block's type errors, checked once in one program. */
let tsxErrors: Map<DocBlock, string> | null = null;

function tsx(block: DocBlock): void {
  tsxErrors ??= typecheckTsx(blocks.filter((b) => b.info === 'tsx' && !b.marker));
  const errors = tsxErrors.get(block);
  if (errors === undefined) throw new Error(`${block.file}:${block.line}: a marked tsx block is not type-checked`);
  if (errors !== '') throw new Error(errors);
}

function plan(block: DocBlock): Plan {
  const kind = block.marker?.kind;
  if (kind && kind in NOT_RUN_KINDS) {
    const name = block.marker?.check ? `${kind} ${block.marker.check}` : kind;
    const what = NOT_RUN_KINDS[kind as NotRunKind];
    if (kind === 'install')
      return { outcome: 'checked', how: `${what}: the npm scripts it names exist`, timeout: BUDGET.check, execute: async () => void (await shell(block)) };
    if (kind === 'wire' && !block.marker?.check) {
      return { outcome: 'checked', how: `${what}: sent to the server, the answers compared`, timeout: BUDGET.check, execute: () => wire(block) };
    }
    const check = CHECKS[name];
    if (check) {
      const slow = name === 'output serve-banner' || name === 'long-run bench-compare';
      return {
        outcome: 'checked',
        how: `${what}, checked (${name})`,
        timeout: BUDGET.check,
        isolated: slow,
        execute: () => check(block, { world, types: program.types, scratch: world.scratch() }),
      };
    }
    if (kind === 'diagram' && !block.marker?.check)
      return { outcome: 'skipped', how: `${what}, nothing to check`, timeout: BUDGET.check, execute: async () => {} };
    throw new Error(`${block.file}:${block.line}: no check "${name}" (known: ${Object.keys(CHECKS).join(', ')})`);
  }
  if (isShell(block)) {
    const alone = isolated(block);
    if (block.text.trimStart().startsWith('$ '))
      return { outcome: 'run', how: 'run in bash, the output compared', timeout: BUDGET.shell, isolated: alone, execute: () => transcript(block) };
    return { outcome: 'run', how: 'run in bash', timeout: BUDGET.shell, isolated: alone, execute: async () => void (await shell(block)) };
  }
  if (isSnippet(block)) {
    const mode = snippetMode(block);
    return { outcome: 'run', how: `run (${mode})`, timeout: BUDGET.snippet + 5000, browser: mode === 'browser', execute: () => snippet(block) };
  }
  if (block.info === 'tsx')
    return { outcome: 'checked', how: 'type-checked as TSX against @switchboard/react', timeout: BUDGET.check, execute: async () => tsx(block) };
  if (block.info === 'html') return { outcome: 'run', how: 'loaded in Chromium', timeout: BUDGET.snippet + 5000, browser: true, execute: () => page(block) };
  if (block.info === 'json') return { outcome: 'run', how: 'parsed by the config schema', timeout: BUDGET.check, execute: async () => config(block) };
  if (block.info === 'ini' && block.text.includes('[Service]'))
    return { outcome: 'run', how: "the unit's ExecStart started and stopped", timeout: BUDGET.shell, isolated: true, execute: () => unit(block) };
  throw new Error(
    `${block.file}:${block.line}: a \`${block.info || 'plain'}\` block that is neither run nor marked: give it an info string the test runs ` +
      `(sh, console, ts, tsx, html, json) or mark it <!-- doc-test: <${Object.keys(NOT_RUN_KINDS).join('|')}> [check] — why -->` +
      (block.generated ? ' (the block is generated: mark it in the generator)' : ''),
  );
}

async function wire(block: DocBlock): Promise<void> {
  const problems = await checkWireFrames(block, {
    wsUrl: world.server.url,
    token: () => world.server.token({ sub: 'alice', tenant: 'wire' }),
    streamAt: async (channel, offset) => {
      for (;;) {
        const { body } = await world.api('GET', `/channels/${channel}/history?limit=0`, { tenant: 'wire' });
        if ((body['offset'] as number) >= offset) return body['epoch'] as string;
        await world.api('POST', '/publish', { tenant: 'wire', body: { channel, data: { n: body['offset'] } } });
      }
    },
    forceUnsubscribe: async (channel, code) => {
      expect(code, 'the push this test knows how to cause').toBe(3009);
      await world.api('DELETE', `/channels/${channel}/history`, { tenant: 'wire' });
    },
  });
  if (problems.length > 0) throw new Error(`${block.file}:${block.line}:\n${problems.join('\n')}`);
}

for (const block of blocks) {
  try {
    plans.set(block, plan(block));
  } catch (err) {
    plans.set(block, err as Error);
  }
}

describe('code blocks of the docs', () => {
  it('finds the blocks of README.md and every docs/*.md', () => {
    expect(new Set(blocks.map((b) => b.file))).toEqual(new Set(docFiles().filter((f) => blocks.some((b) => b.file === f))));
    expect(blocks.length).toBeGreaterThan(60);
  });

  for (const file of docFiles()) {
    const fileBlocks = blocks.filter((b) => b.file === file);
    if (fileBlocks.length === 0) continue;
    describe(file, () => {
      for (const block of fileBlocks) {
        const p = plans.get(block) as Plan | Error;
        const name = p instanceof Error ? 'is run or marked' : p.how;
        const first =
          block.text
            .split('\n')
            .find((l) => l.trim() !== '')
            ?.trim()
            .slice(0, 60) ?? '';
        const timeout = p instanceof Error ? RUN_TIMEOUT : p.isolated ? 3 * BUDGET.shell : p.timeout;
        const title = `line ${block.line} (${block.info || 'plain'}, ${block.heading}: ${first}): ${name}`;
        testOf.set(testKey(file, title), block);
        it(
          title,
          async (ctx) => {
            if (p instanceof Error) throw p;
            // Without Chromium a local run says so; CI installs it (.ci/run), so there a missing browser fails.
            if (p.browser && !existsSync(CHROMIUM) && !process.env['CI']) ctx.skip(`${CHROMIUM} is missing: apt-get install -y chromium`);
            const early = prefetched.get(block);
            if (early) {
              const err = await early;
              if (err) throw err;
            } else {
              await p.execute();
            }
            const t = tally.get(file) ?? { run: 0, checked: 0, skipped: 0 };
            t[p.outcome]++;
            tally.set(file, t);
          },
          timeout,
        );
      }
    });
  }
});
