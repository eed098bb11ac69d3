// One cluster node for the tests: a Switchboard on the redis engine, listening on port 0.
// Config comes as JSON in SB_NODE_CONFIG; prints `SB_NODE_READY {"port":…,"node":…}` once listening.
import { Switchboard } from '@switchboard/server';

const config = JSON.parse(process.env.SB_NODE_CONFIG ?? '{}');
const server = await Switchboard.create({ config });
const { port } = await server.listen();
process.stdout.write(`SB_NODE_READY ${JSON.stringify({ port, node: server.node.id })}\n`);

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
