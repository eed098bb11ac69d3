import { join } from 'node:path';
import ts from 'typescript';
import { GIVENS, givensCode, givensDeclarations, type SnippetEnv } from './givens.js';
import type { DocBlock } from './markdown.js';
import { ROOT } from './markdown.js';

/**
 * TypeScript and JavaScript snippets: where each runs, its type check against the packages'
 * real declarations (so a renamed method or option fails here too), and the module that
 * runs it (the givens it uses, then the snippet as written).
 */

export type SnippetMode = SnippetEnv | 'feature-method';

export interface Snippet {
  block: DocBlock;
  /** A file name: `client-md-196`. */
  id: string;
  mode: SnippetMode;
  /** The snippet after the substitution table. */
  source: string;
}

export interface Checked {
  errors: string[];
  givens: string[];
}

/** Node, unless the snippet is app code for a page or a test. */
export function snippetMode(block: DocBlock): SnippetMode {
  if (block.marker?.kind === 'browser') return 'browser';
  if (block.marker?.kind === 'feature-method') return 'feature-method';
  const code = block.text;
  if (/\b(document|window)\./.test(code) || /\/sdk\//.test(code) || /fetch\(\s*['"`]\//.test(code)) return 'browser';
  if (/\bvi\.\w+\(/.test(code)) return 'vitest';
  return 'node';
}

export function snippetId(block: DocBlock): string {
  return `${block.file.replace(/^docs\//, '').replace(/\W+/g, '-')}-${block.line}`;
}

const FEATURE_HEAD = "import { defineFeature } from '@switchboard/server';\nexport const feature = defineFeature({\n  name: 'doc-example',\n";
const FEATURE_TAIL = '\n});\n';

/** The TypeScript source that is checked and run (a feature method inside its feature). */
export function moduleSource(snippet: Snippet): string {
  return snippet.mode === 'feature-method' ? `${FEATURE_HEAD}${snippet.source}${FEATURE_TAIL}` : snippet.source;
}

const VIRTUAL = join(ROOT, 'test', 'docs', '.virtual');
const GIVENS_FILE = join(VIRTUAL, 'givens.mts');

const INSPECT_FILE = join(VIRTUAL, 'inspect.mts');

export interface Program {
  snippets: Map<string, Checked>;
  /** Per inspected type: its public members, or the values of a union of literals. */
  types: Map<string, string[]>;
}

/**
 * Type-check every snippet in one program against the built packages (errors, and the givens
 * each uses), and list the members of the types in `inspect` (name → type expression).
 */
export function typecheck(snippets: readonly Snippet[], inspect: Record<string, string> = {}): Program {
  const aliases = Object.entries(inspect).map(([name, expr]) => `export type ${name} = ${expr};`);
  const files = new Map<string, string>([
    [GIVENS_FILE, givensDeclarations()],
    [INSPECT_FILE, aliases.join('\n')],
  ]);
  for (const s of snippets) files.set(join(VIRTUAL, `${s.id}.mts`), moduleSource(s));
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    moduleDetection: ts.ModuleDetectionKind.Force,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    types: ['node'],
    esModuleInterop: true,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => files.has(f) || fileExists.call(host, f);
  host.readFile = (f) => files.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, language, ...rest) => {
    const text = files.get(f);
    return text !== undefined ? ts.createSourceFile(f, text, language) : getSourceFile.call(host, f, language, ...rest);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const checker = program.getTypeChecker();
  const results = new Map<string, Checked>();
  for (const s of snippets) {
    const file = program.getSourceFile(join(VIRTUAL, `${s.id}.mts`)) as ts.SourceFile;
    const offset = s.mode === 'feature-method' ? FEATURE_HEAD.split('\n').length - 1 : 0;
    const errors = [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)].map((d) => {
      const line = d.start === undefined ? 0 : file.getLineAndCharacterOfPosition(d.start).line - offset;
      return `${s.block.file}:${s.block.line + 1 + line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    const givens = new Set<string>();
    const visit = (node: ts.Node) => {
      if (ts.isIdentifier(node)) {
        const declaration = checker.getSymbolAtLocation(node)?.declarations?.[0];
        if (declaration?.getSourceFile().fileName === GIVENS_FILE && Object.hasOwn(GIVENS, node.text)) givens.add(node.text);
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
    results.set(s.id, { errors, givens: [...givens] });
  }
  return { snippets: results, types: inspectTypes(program, checker, Object.keys(inspect)) };
}

function inspectTypes(program: ts.Program, checker: ts.TypeChecker, names: string[]): Map<string, string[]> {
  const file = program.getSourceFile(INSPECT_FILE) as ts.SourceFile;
  const problems = program.getSemanticDiagnostics(file).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  if (problems.length > 0) throw new Error(`inspected types do not resolve: ${problems.join('; ')}`);
  const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(file) as ts.Symbol);
  const types = new Map<string, string[]>();
  for (const name of names) {
    const type = checker.getDeclaredTypeOfSymbol(exports.find((e) => e.name === name) as ts.Symbol);
    if (type.isUnion() && type.types.every((t) => t.isStringLiteral())) {
      types.set(
        name,
        type.types.map((t) => (t as ts.StringLiteralType).value),
      );
      continue;
    }
    const isPublic = (p: ts.Symbol) =>
      !p.name.startsWith('__#') &&
      !p.name.startsWith('#') &&
      !(p.declarations ?? []).some((d) => ts.getCombinedModifierFlags(d) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected));
    types.set(
      name,
      checker
        .getPropertiesOfType(type)
        .filter(isPublic)
        .map((p) => p.name),
    );
  }
  return types;
}

/** JavaScript for a page: the snippet with its types removed. */
export function toJavaScript(source: string): string {
  return ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, verbatimModuleSyntax: false } })
    .outputText;
}

const RUNTIME_IMPORTS: Record<SnippetEnv, string> = {
  node: "import * as __SDK from '@switchboard/client';\nimport __WS from 'ws';",
  vitest: "import * as __SDK from '@switchboard/client';\nimport __WS from 'ws';",
  browser: "import * as __SDK from '@switchboard/client';",
};

/** The module that runs a snippet: its givens, then the snippet; a feature method is started on a server of its own. */
export function runtimeModule(snippet: Snippet, givens: readonly string[], scratch: string): string {
  const env: SnippetEnv = snippet.mode === 'feature-method' ? 'node' : snippet.mode;
  const head = `${RUNTIME_IMPORTS[env]}\n${givensCode(givens, env)}\n`;
  if (snippet.mode !== 'feature-method') return `${head}${snippet.source}\n`;
  return `${head}${moduleSource(snippet)}
import { Switchboard as __Switchboard } from '@switchboard/server';
const __server = await __Switchboard.create({
  config: { logLevel: 'silent', host: '127.0.0.1', port: 0, dataDir: ${JSON.stringify(join(scratch, 'feature'))} },
  features: [feature],
});
await __server.listen();
await __server.close();
`;
}
