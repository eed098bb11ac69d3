// npm pack of @switchboard/client carries @switchboard/protocol inside it (bundleDependencies),
// so the tarball installs in a fresh project without the protocol being published. npm only
// bundles a real folder under the package's own node_modules (not the workspace's hoisted
// link): prepack copies the built protocol there, postpack (--remove) takes it away again.
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const client = join(dirname(fileURLToPath(import.meta.url)), '..');
const protocol = join(client, '..', 'protocol');
const target = join(client, 'node_modules', '@switchboard', 'protocol');
rmSync(join(client, 'node_modules'), { recursive: true, force: true });
if (!process.argv.includes('--remove')) {
  mkdirSync(target, { recursive: true });
  cpSync(join(protocol, 'package.json'), join(target, 'package.json'));
  cpSync(join(protocol, 'dist'), join(target, 'dist'), { recursive: true });
}
