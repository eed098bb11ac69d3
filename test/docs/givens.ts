import { join } from 'node:path';
import { ROOT } from './markdown.js';

/**
 * What a snippet may use without defining it: the `client` and `sub` the surrounding text
 * talks about, and the app's own functions (`render`, `setBadge`, …) as stand-ins that do
 * nothing. The type checker finds which of these a snippet uses (a name it does not declare
 * itself that resolves to a declaration below); only those are defined before it runs. A
 * name that is neither declared by the snippet nor given here fails the type check.
 */

export type SnippetEnv = 'node' | 'browser' | 'vitest';

interface Given {
  /** The TypeScript declaration (inside `declare global`). */
  declare: string;
  /** JavaScript that defines it at run time, per environment (one string: the same everywhere); none for a type. */
  code?: string | Partial<Record<SnippetEnv, string>>;
  /** Givens its code uses. */
  needs?: string[];
}

const noop = (name: string, params: string, returns = 'void'): Given => ({
  declare: `function ${name}(${params}): ${returns};`,
  code: `const ${name} = ${returns.startsWith('Promise') ? 'async ' : ''}(..._args) => {};`,
});

const connected =
  "await new Promise((resolve, reject) => {\n  __client.once('connected', resolve);\n  __client.once('disconnected', (e) => reject(new Error('the given client did not connect: ' + e.code + ' ' + e.reason)));\n  __client.connect();\n});";

export const GIVENS: Record<string, Given> = {
  // The connected client of the surrounding text (calls need a connection): user alice, tenant docs,
  // every action on project:* and chat:*.
  __client: {
    declare: '',
    code: {
      node: `const __client = new __SDK.SwitchboardClient(process.env.SB_URL, { token: process.env.SB_TOKEN, WebSocket: __WS });\n${connected}`,
      browser: `const __client = new __SDK.SwitchboardClient(__DOCS.wsUrl, { token: __DOCS.token });\n${connected}`,
      vitest: `const __client = new __SDK.SwitchboardClient(process.env.SB_URL, { token: process.env.SB_TOKEN, WebSocket: __WS });\n${connected}`,
    },
  },
  SwitchboardClient: {
    declare: "const SwitchboardClient: typeof import('@switchboard/client').SwitchboardClient;",
    code: 'const SwitchboardClient = __SDK.SwitchboardClient;',
  },
  client: { declare: "const client: import('@switchboard/client').SwitchboardClient;", code: 'const client = __client;', needs: ['__client'] },
  sub: { declare: "const sub: import('@switchboard/client').Subscription;", code: "const sub = __client.subscribe('project:42');", needs: ['__client'] },
  url: { declare: 'const url: string;', code: { node: 'const url = process.env.SB_URL;', browser: 'const url = __DOCS.wsUrl;' } },
  getToken: {
    declare: 'function getToken(): Promise<string>;',
    code: { node: 'const getToken = async () => process.env.SB_TOKEN;', browser: 'const getToken = async () => __DOCS.token;' },
  },
  Message: { declare: 'type Message = { text: string };' },
  Presence: { declare: 'type Presence = { page: string };' },
  data: { declare: 'const data: unknown;', code: "const data = { text: 'hello' };" },
  doc: { declare: 'const doc: string;', code: "const doc = 'doc-1';" },
  statusBar: {
    declare: 'const statusBar: { set(state: string): void; hint(text: string): void };',
    code: 'const statusBar = { set: () => {}, hint: () => {} };',
  },
  editor: {
    declare: "const editor: { on(event: 'cursor', listener: (pos: { x: number; y: number }) => void): void };",
    code: 'const editor = { on: (_event, listener) => listener({ x: 1, y: 2 }) };',
  },
  myApp: { declare: "const myApp: import('node:http').RequestListener;", code: 'const myApp = (_req, res) => res.end();' },
  render: noop('render', 'data: unknown'),
  appendMessage: noop('appendMessage', 'text: string'),
  reloadMessages: noop('reloadMessages', ''),
  handle: noop('handle', 'id: string'),
  setBadge: noop('setBadge', 'count: number'),
  upsert: noop('upsert', 'id: string, item: unknown'),
  prepend: noop('prepend', 'item: unknown'),
  showReadOnly: noop('showReadOnly', ''),
  showOfflineBanner: noop('showOfflineBanner', ''),
  retryLater: noop('retryLater', ''),
  drawCursor: noop('drawCursor', 'user: string, pos: unknown'),
  replay: noop('replay', 'data: unknown, from: string'),
  releaseLocksOf: noop('releaseLocksOf', 'node: string, token: number', 'Promise<void>'),
  compact: noop('compact', 'doc: string, token: number', 'Promise<void>'),
  // For snippets about testing with the SDK: they run inside Vitest.
  vi: { declare: "const vi: typeof import('vitest').vi;", code: { vitest: "const { vi } = await import('vitest');" } },
  FakeSocket: {
    declare: "const FakeSocket: import('@switchboard/client').WebSocketConstructor;",
    code: { vitest: `const { FakeSocket } = await import(${JSON.stringify(join(ROOT, 'packages', 'client', 'test', 'fake-socket.ts'))});` },
  },
  n: { declare: 'let n: number;', code: 'let n = 0;' },
};

/** The declarations file the type checker sees beside the snippets. */
export function givensDeclarations(): string {
  const lines = Object.values(GIVENS)
    .filter((g) => g.declare !== '')
    .map((g) => `  ${g.declare}`);
  return `export {};\ndeclare global {\n${lines.join('\n')}\n}\n`;
}

/** The code that defines `names` (and what they need) before a snippet, in dependency order. */
export function givensCode(names: readonly string[], env: SnippetEnv): string {
  const ordered: string[] = [];
  const visit = (name: string) => {
    if (ordered.includes(name)) return;
    const given = GIVENS[name];
    if (!given) throw new Error(`no given named ${name}`);
    for (const dep of given.needs ?? []) visit(dep);
    ordered.push(name);
  };
  for (const name of names) visit(name);
  return ordered
    .map((name) => {
      const code = (GIVENS[name] as Given).code;
      if (code === undefined) return '';
      const text = typeof code === 'string' ? code : code[env];
      if (text === undefined) throw new Error(`${name} is not available in a ${env} snippet`);
      return text;
    })
    .filter(Boolean)
    .join('\n');
}
