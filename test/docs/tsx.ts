import { join } from 'node:path';
import ts from 'typescript';
import { type DocBlock, ROOT } from './markdown.js';

/**
 * TSX blocks (docs/react.md): each is a module of its own, type-checked against the built
 * `@switchboard/react` and React's types, with the few app functions the examples call
 * declared here.
 */
const GIVENS = `
declare global {
  /** The app's endpoint that returns a Switchboard token for the signed-in user. */
  function fetchToken(): Promise<string>;
  function toast(text: string): void;
  function Spinner(): import('react').ReactNode;
}
export {};
`;

const DIR = join(ROOT, '.docs-tsx');
const GIVENS_FILE = join(DIR, 'givens.d.ts');

const fileOf = (block: DocBlock) => join(DIR, `${block.file.replace(/[^a-z0-9]+/gi, '-')}-${block.line}.tsx`);

/** Type errors of each TSX block ('' for none), checked together in one program. */
export function typecheckTsx(blocks: readonly DocBlock[]): Map<DocBlock, string> {
  const files = new Map<string, string>([[GIVENS_FILE, GIVENS]]);
  for (const b of blocks) files.set(fileOf(b), b.text);
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    moduleDetection: ts.ModuleDetectionKind.Force,
    jsx: ts.JsxEmit.ReactJSX,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => files.has(f) || fileExists.call(host, f);
  host.readFile = (f) => files.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, language, ...rest) => {
    const text = files.get(f);
    return text !== undefined
      ? ts.createSourceFile(f, text, language, true, f.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS)
      : getSourceFile.call(host, f, language, ...rest);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const results = new Map<DocBlock, string>();
  for (const b of blocks) {
    const file = program.getSourceFile(fileOf(b)) as ts.SourceFile;
    const errors = [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)].map((d) => {
      const line = d.start === undefined ? 0 : file.getLineAndCharacterOfPosition(d.start).line;
      return `${b.file}:${b.line + 1 + line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    results.set(b, errors.join('\n'));
  }
  return results;
}
