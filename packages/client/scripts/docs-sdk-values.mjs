// Write the current browser build's path segment, integrity value and sizes into
// docs/client.md ("In any web page, from the server"); the test suite checks they match.
//   npm run build && node packages/client/scripts/docs-sdk-values.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const manifest = JSON.parse(readFileSync(join(root, 'packages/client/dist/browser/manifest.json'), 'utf8'));
const doc = join(root, 'docs/client.md');
const classic = manifest.files['switchboard.js'];
const core = manifest.files['switchboard.mjs'];
const text = readFileSync(doc, 'utf8')
  .replace(/\/sdk\/\d+\.\d+\.\d+-[0-9a-f]{10}\//g, `/sdk/${manifest.build}/`)
  .replace(
    /\(build `[^`]+`, [\d,]+ bytes gzipped; the core module [\d,]+\)/,
    `(build \`${manifest.build}\`, ${classic.gzip.toLocaleString('en-US')} bytes gzipped; the core module ${core.gzip.toLocaleString('en-US')})`,
  )
  .replace(/integrity="sha384-[A-Za-z0-9+/=]+"/, `integrity="${classic.integrity}"`);
writeFileSync(doc, text);
