import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { listOptions } from '@switchboard/server/testing';
import { describe, expect, it } from 'vitest';
import { eventually } from './helpers/eventually.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer } from './helpers/server.js';

const BIN = join(import.meta.dirname, '..', 'packages', 'server', 'bin', 'switchboard.js');
const run = promisify(execFile);

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { PATH: process.env['PATH'], ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('the switchboard CLI', () => {
  it('serve with embedded defaults creates a development secret and admin key, and prints a working token and key', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-cli-'));
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--data', dataDir, '--log-level', 'silent'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const exited = new Promise((r) => child.once('exit', r));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no banner: ${out}`)), 15_000);
      child.stdout.on('data', () => {
        if (/Try it:.*\n/.test(out)) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    const port = Number((/listening on port (\d+)/.exec(out) as RegExpExecArray)[1]);
    expect(out).toContain(`ws://127.0.0.1:${port}/ws`);
    expect(out).toContain('npx switchboard token');
    for (const f of ['secret', 'api-keys.json', 'admin-api-key']) {
      expect(existsSync(join(dataDir, f))).toBe(true);
      expect(statSync(join(dataDir, f)).mode & 0o077).toBe(0);
    }
    const token = (/Token \(tenant demo[^)]*\): (\S+)/.exec(out) as RegExpExecArray)[1] as string;
    const apiKey = (/Admin API key: (\S+)/.exec(out) as RegExpExecArray)[1] as string;
    const c = await RawClient.connect(`ws://127.0.0.1:${port}/ws`, token);
    expect(c.info).toMatchObject({ user: 'dev', tenant: 'demo' });
    await c.call('subscribe', { channel: 'project:1' });
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'x-switchboard-tenant': 'demo', 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'project:1', data: { hello: 'world' } }),
    });
    expect(res.status).toBe(200);
    await c.waitFor((f) => f.push === 'pub');

    // `switchboard token` mints with the same development secret.
    const minted = await cli([
      'token',
      '--sub',
      'alice',
      '--tenant',
      'demo',
      '--ttl',
      '1h',
      '--cap',
      'project:*=subscribe,publish,presence',
      '--data',
      dataDir,
    ]);
    expect(minted.code).toBe(0);
    const alice = await RawClient.connect(`ws://127.0.0.1:${port}/ws`, minted.stdout.trim());
    expect(alice.info).toMatchObject({ user: 'alice', tenant: 'demo' });
    expect((await alice.call('publish', { channel: 'project:9', data: 1 })).error).toBeUndefined();
    expect((await alice.call('publish', { channel: 'chat:9', data: 1 })).error?.code).toBe(103);
    c.close();
    alice.close();
    child.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('a SIGTERM sent the moment the first banner line appears drains and exits 0 (handlers are installed before the port opens)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-cli-'));
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--data', dataDir, '--log-level', 'silent'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
    child.stdout.on('data', (d) => {
      const first = out === '';
      out += d;
      if (first) child.kill('SIGTERM');
    });
    const { code, signal } = await exited;
    expect(out).toContain('listening on port');
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(out).toContain('SIGTERM: draining and shutting down');
    rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('npm start runs the server so that a SIGTERM sent to npm stops it (graceful, exit 0)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-npmstart-'));
    const root = join(import.meta.dirname, '..');
    const child = spawn('npm', ['start', '--silent'], {
      cwd: root,
      env: { ...process.env, SWITCHBOARD_PORT: '0', SWITCHBOARD_HOST: '127.0.0.1', SWITCHBOARD_DATA_DIR: dataDir, SWITCHBOARD_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await eventually(() => /listening on port (\d+)/.test(out), 30_000, `the banner: ${out}`);
    const port = Number((/listening on port (\d+)/.exec(out) as RegExpExecArray)[1]);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    // The log of the start (migrations of the fresh database) comes before the banner, not inside it.
    const lines = out.split('\n');
    const banner = lines.findIndex((l) => l.startsWith('Switchboard listening'));
    const migrations = lines.flatMap((l, i) => (l.includes('migration applied') ? [i] : []));
    expect(migrations.length).toBeGreaterThan(0);
    expect(Math.max(...migrations)).toBeLessThan(banner);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/readyz`)).rejects.toThrow();
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('a dead --redis still starts, but the banner says the node is not ready and why, and /readyz agrees', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-deadredis-'));
    // A port nothing listens on: bound, then released.
    const dead = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const child = spawn(
      process.execPath,
      [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--data', dataDir, '--log-level', 'silent', '--redis', `redis://127.0.0.1:${dead}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const exited = new Promise((r) => child.once('exit', r));
    await eventually(() => /NOT READY:.*\n/.test(out), 30_000, `the banner: ${out}`);
    expect(out).toContain('engine redis');
    expect(out).toMatch(/NOT READY: +engine: redis unavailable/);
    const port = Number((/listening on port (\d+)/.exec(out) as RegExpExecArray)[1]);
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'unavailable', checks: { engine: 'redis unavailable', database: 'ok' } });
    child.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('documents every option in serve --help', async () => {
    const { code, stdout } = await cli(['serve', '--help']);
    expect(code).toBe(0);
    const missing = listOptions()
      .filter((o) => !stdout.includes(o.flag) || !stdout.includes(o.env))
      .map((o) => o.key);
    expect(missing).toEqual([]);
  });

  it('stops a start with a bad value, naming the option, from a flag, the environment or a file', async () => {
    const flag = await cli(['serve', '--port', '99999', '--data', tmpdir()]);
    expect(flag.code).toBe(1);
    expect(flag.stderr).toContain('SB_ERR_CONFIG_INVALID');
    expect(flag.stderr).toContain('--port / SWITCHBOARD_PORT');
    const env = await cli(['serve', '--data', tmpdir()], { SWITCHBOARD_LIMITS_MAX_MESSAGE_BYTES: 'lots' });
    expect(env.code).toBe(1);
    expect(env.stderr).toContain('--limits.max-message-bytes / SWITCHBOARD_LIMITS_MAX_MESSAGE_BYTES');
    const unknown = await cli(['serve', '--prot', '1']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown option --prot');
  });

  it('switchboard --help lists the commands; serve --help the server options', async () => {
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('Usage: switchboard <command> [options]');
    for (const command of ['serve', 'token', 'apikey', 'migrate', 'bench']) expect(top.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect((await cli(['serve', '--help'])).stdout).toContain('Usage: switchboard serve');
  });

  it('says what an integer option expected, with the value it got', async () => {
    const text = await cli(['serve', '--port', 'abc', '--data', tmpdir()]);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain('port (--port / SWITCHBOARD_PORT): expected an integer from 0 to 65535, got "abc"');
    expect(text.stderr).not.toContain('NaN');
    const exponent = await cli(['serve', '--data', tmpdir()], { SWITCHBOARD_LIMITS_HISTORY_PAGE_SIZE: '1e3' });
    expect(exponent.stderr).toContain('got "1e3"');
  });

  it('token never makes a secret of its own: refused where none exists, and says which secret signed', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'sb-cli-nosecret-'));
    const refused = await cli(['token', '--sub', 'a', '--tenant', 'acme', '--data', empty]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('SB_ERR_NO_TOKEN_KEY');
    expect(refused.stderr).toContain(join(empty, 'secret'));
    expect(existsSync(join(empty, 'secret'))).toBe(false);
    const given = await cli(['token', '--sub', 'a', '--tenant', 'acme', '--data', empty, '--secret', 'x'.repeat(40)]);
    expect(given.code).toBe(0);
    expect(given.stderr).toContain('signed with the configured auth.secret');
    expect(given.stdout.trim().split('.')).toHaveLength(3);
    // Every capability action is accepted, the ingest of metric points too; help lists them all.
    const ingest = await cli(['token', '--sub', 'a', '--tenant', 'acme', '--data', empty, '--secret', 'x'.repeat(40), '--cap', 'metrics:web.*=ingest']);
    expect(ingest.code).toBe(0);
    const claims = JSON.parse(Buffer.from(ingest.stdout.trim().split('.')[1] as string, 'base64url').toString('utf8'));
    expect(claims.caps).toEqual({ 'metrics:web.*': ['ingest'] });
    expect((await cli(['token', '--help'])).stdout).toContain('subscribe, publish, presence, history, signal, lock, unlock, comment, ingest');
    rmSync(empty, { recursive: true, force: true });
  });

  it('API keys created and revoked with the CLI count for a running server from its next request, without a restart', async () => {
    const s = await startTestServer();
    const channels = (key: string) => fetch(`${s.httpUrl}/api/v1/channels`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status);
    const created = await cli(['apikey', 'create', '--tenant', 'acme', '--data', s.dataDir]);
    expect(created.code).toBe(0);
    const [header, key] = created.stdout.trim().split('\n') as [string, string];
    const id = (/API key (\w+)/.exec(header) as RegExpExecArray)[1] as string;
    expect(await channels(key)).toBe(200);
    const listed = await cli(['apikey', 'list', '--data', s.dataDir]);
    expect(listed.stdout).toContain(`${id}  tenant acme`);
    expect(listed.stdout).not.toContain(key);
    const revoked = await cli(['apikey', 'revoke', id, '--data', s.dataDir]);
    expect(revoked.stdout).toContain(`API key ${id} revoked`);
    expect(await channels(key)).toBe(401);
    // The other keys of the file still work; an unknown id is refused with exit code 2.
    expect(await channels(s.tenantKeys['acme'] as string)).toBe(200);
    expect((await cli(['apikey', 'revoke', 'nosuchkey', '--data', s.dataDir])).code).toBe(2);
    await s.close();
  });

  it('refuses token without --sub or with a bad capability, with exit code 2', async () => {
    expect((await cli(['token', '--tenant', 'acme'])).code).toBe(2);
    const bad = await cli(['token', '--sub', 'a', '--tenant', 'acme', '--cap', 'project:*=fly']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('SB_ERR_CLI_ARGS');
  });
});
