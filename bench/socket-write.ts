/**
 * What one small loopback TCP write costs on this machine: the floor under every server's
 * CPU per delivery (one write per subscriber socket), whatever the server does in JavaScript.
 *
 *   npx tsx bench/socket-write.ts [--sockets 1000] [--rounds 5] [--bytes 150]
 *
 * Opens N connected socket pairs in this process, writes `bytes` to each server-side socket
 * once per round, and prints user and system CPU per write (process.cpuUsage). Bounded:
 * N ≤ 5,000 sockets and ≤ 50 rounds; the process exits when done.
 */
import net from 'node:net';

function flag(name: string, def: number, max: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i === -1 ? def : Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`--${name}: an integer from 1 to ${max}`);
  return v;
}

const sockets = flag('sockets', 1000, 5000);
const rounds = flag('rounds', 5, 50);
const bytes = flag('bytes', 150, 65536);

const server = net.createServer();
const accepted: net.Socket[] = [];
server.on('connection', (s) => {
  s.setNoDelay(true);
  accepted.push(s);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as net.AddressInfo;
const clients: net.Socket[] = [];
const deadline = Date.now() + 30_000;
// In batches below the listen backlog, so no SYN is dropped and retried seconds later.
for (let i = 0; i < sockets; i++) {
  const c = net.connect(port, '127.0.0.1');
  c.on('data', () => {});
  clients.push(c);
  if (clients.length % 200 === 0 || i === sockets - 1) {
    while (accepted.length < clients.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }
}
if (accepted.length < sockets) throw new Error(`only ${accepted.length} of ${sockets} sockets connected`);

const payload = Buffer.alloc(bytes, 'a');
const results: Array<{ user: number; system: number }> = [];
for (let r = 0; r < rounds; r++) {
  const before = process.cpuUsage();
  for (const s of accepted) s.write(payload);
  const used = process.cpuUsage(before);
  results.push({ user: used.user / sockets, system: used.system / sockets });
  await new Promise((res) => setTimeout(res, 200));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
for (const [i, r] of results.entries())
  process.stdout.write(`round ${i + 1}: ${(r.user + r.system).toFixed(2)} µs CPU per write (${r.user.toFixed(2)} user + ${r.system.toFixed(2)} system)\n`);
const total = median(results.map((r) => r.user + r.system));
process.stdout.write(
  `median: ${total.toFixed(2)} µs CPU per ${bytes}-byte write to ${sockets} loopback sockets ` +
    `=> one message to 10,000 sockets costs ≥ ${((total * 10_000) / 1000).toFixed(0)} ms of one core in any single-threaded server\n`,
);
for (const s of [...accepted, ...clients]) s.destroy();
server.close();
