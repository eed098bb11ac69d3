import { pathToFileURL } from 'node:url';

/**
 * A Node process (run with tsx) that runs the docs' snippets one at a time, on request over
 * IPC: `{id, file}` in, `{id, errors}` out once the module has been evaluated (its top-level
 * awaits done). What a snippet throws later, from a listener or a timer, is reported with
 * the next answer, naming the snippet. The parent kills and replaces it when a snippet hangs.
 */

let current = '';
let errors: string[] = [];
let late: string[] = [];

const describe = (err: unknown): string => (err instanceof Error ? (err.stack ?? err.message) : String(err));

const record = (err: unknown): void => {
  if (current) errors.push(describe(err));
  else late.push(describe(err));
};
process.on('uncaughtException', record);
process.on('unhandledRejection', record);

process.on('message', async (request: { id: string; file: string }) => {
  current = request.id;
  errors = late.map((e) => `thrown after an earlier snippet finished: ${e}`);
  late = [];
  try {
    await import(pathToFileURL(request.file).href);
  } catch (err) {
    errors.push(describe(err));
  }
  // Let what the snippet's last statement started report its failure.
  await new Promise((resolve) => setImmediate(resolve));
  current = '';
  process.send?.({ id: request.id, errors });
});

process.send?.({ id: 'ready', errors: [] });
