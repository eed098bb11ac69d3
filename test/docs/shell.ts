import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { eventually } from '../helpers/eventually.js';
import type { DocBlock } from './markdown.js';
import { matchJsonSample, parseJsonSample } from './shape.js';
import { trackGroup, untrackGroup } from './started.js';
import { substitute, type Values } from './substitutions.js';

/**
 * Shell blocks run in bash, as written, after the substitution table. A few commands are
 * wrapped by shell functions so that the test can see what they did:
 *
 * - `curl` records each answer's status and body (the block's `# 200 {…}` comments say what
 *   to expect; without one, any 2xx);
 * - `switchboard` / `npx switchboard` run the repository's bin; `serve` starts in the
 *   background, the command returns at its banner, and at the end of the block the server
 *   gets SIGTERM and must exit 0;
 * - `redis-server` starts in the background, returns when it answers;
 * - `npm` is never run: it checks that the scripts it names exist in package.json.
 */

export interface CurlCall {
  command: number;
  status: number;
  body: string;
}

export interface ShellOutcome {
  /** The output of each command, by index. */
  outputs: string[];
  curls: CurlCall[];
}

interface Command {
  /** The command as bash runs it (continuation lines included). */
  text: string;
  line: number;
  /** What the last `curl` of the command must answer. */
  expect?: { status: number; body?: string };
}

const PRELUDE = join(import.meta.dirname, 'prelude.sh');

/** A port the kernel hands out now (free when probed; the block binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

/** Ports a block opens itself (`--port N`): each becomes a free port everywhere in the block. */
export async function mapOpenedPorts(text: string): Promise<string> {
  const opened = new Set([...text.matchAll(/--port[ =](\d+)/g)].map((m) => m[1] as string));
  let out = text;
  for (const port of opened) out = out.replace(new RegExp(`(?<![\\d.])${port}(?!\\d)`, 'g'), String(await freePort()));
  return out;
}

/** Split a block into commands; `# NNN {json}` comments after a command set what its last curl answers. */
export function parseCommands(text: string, firstLine: number): Command[] {
  const lines = text.split('\n');
  const commands: Command[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const trimmed = line.trim();
    if (trimmed === '') continue;
    if (trimmed.startsWith('#')) {
      const expectation = /^#\s*(again:\s*)?(\d{3})\b\s*(.*)$/.exec(trimmed);
      const last = commands.at(-1);
      if (!expectation || !last) continue;
      let body = expectation[3] ?? '';
      // A sample may continue on the next comment lines.
      while (body !== '' && !isJson(body) && (lines[i + 1] ?? '').trim().startsWith('#')) body += (lines[++i] as string).trim().replace(/^#\s*/, '');
      const expect = { status: Number(expectation[2]), ...(body ? { body } : {}) };
      if (expectation[1]) commands.push({ text: last.text, line: firstLine + i + 1, expect });
      else last.expect = expect;
      continue;
    }
    let text = line;
    const start = i;
    while (text.endsWith('\\') && i + 1 < lines.length) text += `\n${lines[++i] as string}`;
    commands.push({ text: backgroundByWrapper(text), line: firstLine + start + 1 });
  }
  return commands;
}

function isJson(text: string): boolean {
  try {
    parseJsonSample(text);
    return true;
  } catch {
    return false;
  }
}

/** `serve … &` and `redis-server … &`: the wrappers start them in the background themselves. */
function backgroundByWrapper(command: string): string {
  if (!/^\s*(npx switchboard serve|switchboard serve|redis-server)\b/.test(command)) return command;
  return command.replace(/\s&\s*(#.*)?$/, ' $1').trimEnd();
}

/** Run `script` in bash as the leader of its own process group, which the servers it starts in the background join; `group` is its id. */
function run(script: string, cwd: string, env: Record<string, string>, timeout: number): Promise<{ code: number | null; output: string; group: number }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const group = child.pid as number;
    trackGroup(group);
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output, group });
    });
  });
}

/** Whether `check` passed within `timeout` ms (a process's exit, seen through the files it leaves). */
const until = (check: () => boolean, timeout: number): Promise<boolean> =>
  eventually(check, timeout, 'a process to exit').then(
    () => true,
    () => false,
  );

/** SIGTERM every server the block started (by the pid the wrapper wrote); each must exit 0. */
async function stopStarted(state: string): Promise<string[]> {
  const problems: string[] = [];
  const files = readdirSync(state);
  for (const pidFile of files.filter((f) => /^(serve|redis)\.\d+\.pid$/.test(f))) {
    const pid = Number(readFileSync(join(state, pidFile), 'utf8'));
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone: for a server, its rc file says how it ended.
    }
    if (pidFile.startsWith('serve.')) {
      const rcFile = join(state, pidFile.replace('.pid', '.rc'));
      // The file exists from the moment the shell opens it; the status is in it a moment later.
      if (!(await until(() => existsSync(rcFile) && readFileSync(rcFile, 'utf8').trim() !== '', 15_000))) {
        problems.push(`switchboard serve (pid ${pid}) did not exit within 15 s of SIGTERM`);
        process.kill(pid, 'SIGKILL');
        continue;
      }
      const rc = readFileSync(rcFile, 'utf8').trim();
      if (rc !== '0')
        problems.push(`switchboard serve exited ${rc} after SIGTERM: ${readFileSync(join(state, pidFile.replace('.pid', '.log')), 'utf8').slice(-2000)}`);
    } else {
      await until(() => !alive(pid), 5000);
    }
  }
  return problems;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface ShellContext {
  values: Values;
  env: Record<string, string>;
  /** Where load-test runs are kept for the rest of the test run (shared by all blocks). */
  cache: string;
  /** Scripts of the root package.json (what `npm` may name). */
  scripts: string[];
  timeout: number;
  /** Keep each command's stderr out of its output (a transcript shows what a terminal's stdout shows). */
  stdoutOnly?: boolean;
}

/** Run a shell block; throws with the failing command and its output. */
export async function runShellBlock(block: DocBlock, ctx: ShellContext): Promise<ShellOutcome> {
  const state = join(ctx.values.scratch, '.doc-test');
  mkdirSync(state, { recursive: true });
  const text = substitute(await mapOpenedPorts(block.text), ctx.values);
  const commands = parseCommands(text, block.line);
  const wrap = (c: Command) => (ctx.stdoutOnly ? `{ ${c.text}\n} 2>> "$__state/stderr.log"` : c.text);
  const body = commands.map((c, i) => `__cmd=${i}; echo "@@doc-test:${i}"\n${wrap(c)}`).join('\n');
  const env = { ...ctx.env, DOC_TEST_ROOT: ctx.values.root, DOC_TEST_STATE: state, DOC_TEST_CACHE: ctx.cache, DOC_TEST_SCRIPTS: ctx.scripts.join(' ') };
  const result = await run(`${readFileSync(PRELUDE, 'utf8')}\n${body}`, ctx.values.scratch, env, ctx.timeout);
  const problems = await stopStarted(state);
  untrackGroup(result.group);
  const sections = result.output.split(/^@@doc-test:(\d+)\n/m);
  const outputs: string[] = commands.map(() => '');
  let last = -1;
  for (let i = 1; i < sections.length; i += 2) {
    last = Number(sections[i]);
    outputs[last] = sections[i + 1] ?? '';
  }
  if (result.code !== 0) {
    const failed = commands[last];
    const stderr = existsSync(join(state, 'stderr.log')) ? readFileSync(join(state, 'stderr.log'), 'utf8') : '';
    throw new Error(
      `${block.file}:${failed?.line ?? block.line}: exit ${result.code ?? 'killed (timeout)'} from:\n${failed?.text ?? '(before the first command)'}\n--- output ---\n${outputs[last] ?? result.output}${stderr}`,
    );
  }
  const curls = readCurls(state);
  problems.push(...checkCurls(commands, curls));
  if (problems.length > 0) throw new Error(`${block.file}:${block.line}:\n${problems.join('\n')}`);
  return { outputs, curls };
}

function readCurls(state: string): CurlCall[] {
  const calls: CurlCall[] = [];
  for (let n = 1; existsSync(join(state, `curl.${n}.status`)); n++) {
    const read = (what: string) => (existsSync(join(state, `curl.${n}.${what}`)) ? readFileSync(join(state, `curl.${n}.${what}`), 'utf8') : '');
    calls.push({ command: Number(read('command')), status: Number(read('status')), body: read('body') });
  }
  return calls;
}

function checkCurls(commands: Command[], curls: CurlCall[]): string[] {
  const problems: string[] = [];
  commands.forEach((command, index) => {
    const calls = curls.filter((c) => c.command === index);
    calls.forEach((call, k) => {
      const expect = k === calls.length - 1 ? command.expect : undefined;
      const where = `line ${command.line}: ${command.text.split('\n')[0]}`;
      if (expect ? call.status !== expect.status : call.status < 200 || call.status > 299) {
        problems.push(`${where}\n  answered ${call.status} (expected ${expect?.status ?? '2xx'}): ${call.body.slice(0, 500)}`);
        return;
      }
      if (expect?.body === undefined) return;
      let actual: unknown;
      try {
        actual = JSON.parse(call.body);
      } catch {
        problems.push(`${where}\n  answered a body that is not JSON: ${call.body.slice(0, 200)}`);
        return;
      }
      const mismatches = matchJsonSample(parseJsonSample(expect.body), actual);
      if (mismatches.length > 0)
        problems.push(
          `${where}\n  the answer differs from the documented one:\n    ${mismatches.join('\n    ')}\n  documented: ${expect.body}\n  answered:   ${call.body.slice(0, 1000)}`,
        );
    });
    if (command.expect && calls.length === 0) problems.push(`line ${command.line}: an answer is documented but the command made no request`);
  });
  return problems;
}

/** A console transcript: `$ command` lines, each followed by what it prints. */
export function parseTranscript(text: string): Array<{ command: string; sample: string }> {
  const steps: Array<{ command: string; sample: string }> = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('$ ')) steps.push({ command: line.slice(2), sample: '' });
    else if (steps.length > 0) (steps.at(-1) as { sample: string }).sample += `${line}\n`;
  }
  return steps;
}
