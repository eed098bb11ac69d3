import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { SwitchboardClient } from '@switchboard/client';
import { Switchboard, SwitchboardError } from '@switchboard/server';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { waitFor } from '../packages/client/test/wait-for.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Native TLS: `tlsCert` / `tlsKey` make the one port serve HTTPS and WSS; SIGHUP (or
 * `reloadTls()`) gives new handshakes a replaced certificate while open connections stay.
 * The certificates are made here, by the openssl CLI, in a temporary directory: a test CA
 * and two server certificates it signed for localhost and 127.0.0.1.
 */
const BIN = join(import.meta.dirname, '..', 'packages', 'server', 'bin', 'switchboard.js');
const dir = mkdtempSync(join(tmpdir(), 'sb-tls-'));
const pem = (name: string) => join(dir, name);
const WAIT = { timeout: 10_000, interval: 20 };

function makeCertificates(): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Switchboard test CA');
  writeFileSync(pem('san.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  for (const n of [1, 2]) {
    ssl('req', ...ec, '-keyout', `server${n}.key`, '-out', `server${n}.csr`, '-subj', `/CN=localhost/O=server ${n}`);
    ssl(
      'x509',
      '-req',
      '-in',
      `server${n}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-set_serial',
      `0x5B0${n}`,
      '-days',
      '2',
      '-extfile',
      'san.cnf',
      '-out',
      `server${n}.pem`,
    );
  }
  ssl('pkey', '-in', 'server1.key', '-aes256', '-passout', 'pass:correct horse', '-out', 'server1.enc.key');
  writeFileSync(pem('garbage.pem'), '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
}

let ca: Buffer;
const fingerprint = (n: number) => new X509Certificate(readFileSync(pem(`server${n}.pem`))).fingerprint256;

/** Put a certificate and key in place the way certbot does: write aside, then rename over. */
function install(target: string, certFile: string, keyFile: string): { cert: string; key: string } {
  mkdirSync(target, { recursive: true });
  const files = { cert: join(target, 'cert.pem'), key: join(target, 'key.pem') };
  copyFileSync(certFile, `${files.cert}.new`);
  copyFileSync(keyFile, `${files.key}.new`);
  renameSync(`${files.cert}.new`, files.cert);
  renameSync(`${files.key}.new`, files.key);
  return files;
}

/** The certificate a new TLS handshake with the port gets: its SHA-256 fingerprint and serial. */
function peerCertificate(port: number): Promise<{ fingerprint256: string; serialNumber: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const { fingerprint256, serialNumber } = socket.getPeerCertificate();
      socket.end();
      resolve({ fingerprint256, serialNumber });
    });
    socket.once('error', reject);
  });
}

function https(
  method: string,
  url: string,
  opts: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; body: string; fingerprint256: string }> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = request(url, { method, ca, headers: { ...opts.headers, ...(body ? { 'content-type': 'application/json' } : {}) }, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => {
        const peer = (res.socket as unknown as { getPeerCertificate(): { fingerprint256: string } }).getPeerCertificate();
        resolve({ status: res.statusCode ?? 0, body: text, fingerprint256: peer.fingerprint256 ?? '' });
      });
    });
    req.once('error', reject);
    req.end(body);
  });
}

beforeAll(() => {
  makeCertificates();
  ca = readFileSync(pem('ca.pem'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('native TLS in process', () => {
  let s: TestServer;
  let files: { cert: string; key: string };
  const admin = () => ({ authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'acme' });

  beforeAll(async () => {
    files = install(join(dir, 'live-inproc'), pem('server1.pem'), pem('server1.key'));
    s = await startTestServer({ tlsCert: files.cert, tlsKey: files.key });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('serves HTTPS (health, API) and WSS (/ws, the SDK) on one port with the configured certificate', async () => {
    expect(s.url).toBe(`wss://127.0.0.1:${s.port}/ws`);
    expect(s.server.tls?.fingerprint256).toBe(fingerprint(1));
    const health = await https('GET', `${s.httpUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' });
    expect(health.fingerprint256).toBe(fingerprint(1));
    expect((await https('GET', `${s.httpUrl}/api/v1/openapi.json`)).status).toBe(200);

    // The SDK over wss://, with a WebSocket class that trusts the test CA.
    class TrustingWebSocket extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols, { ca });
      }
    }
    const client = new SwitchboardClient(s.url, { getToken: () => s.token({ sub: 'alice' }), WebSocket: TrustingWebSocket as never });
    try {
      const up = waitFor(client, 'connected');
      client.connect();
      await up;
      const sub = client.subscribe<{ n: number }>('project:tls-sdk');
      await waitFor(sub, 'subscribed');
      const received = waitFor(sub, 'publication');
      const published = await https('POST', `${s.httpUrl}/api/v1/publish`, { headers: admin(), body: { channel: 'project:tls-sdk', data: { n: 1 } } });
      expect(published.status).toBe(200);
      expect((await received).data).toEqual({ n: 1 });
    } finally {
      client.disconnect();
    }
  });

  it('a plain ws:// client gets no WebSocket from the TLS port', async () => {
    await expect(RawClient.open(`ws://127.0.0.1:${s.port}/ws`)).rejects.toThrow();
  });

  it('reloadTls gives new handshakes the new certificate while an open WSS connection keeps receiving', async () => {
    const open = await RawClient.connect(s.url, await s.token({ sub: 'bob' }), { ca });
    await open.call('subscribe', { channel: 'project:tls-reload' });
    install(join(dir, 'live-inproc'), pem('server2.pem'), pem('server2.key'));
    const info = await s.server.reloadTls();
    expect(info.fingerprint256).toBe(fingerprint(2));
    expect(s.server.tls?.fingerprint256).toBe(fingerprint(2));
    const peer = await peerCertificate(s.port);
    expect(peer.fingerprint256).toBe(fingerprint(2));
    expect(peer.serialNumber).toBe('5B02');
    const res = await https('POST', `${s.httpUrl}/api/v1/publish`, { headers: admin(), body: { channel: 'project:tls-reload', data: 'after' } });
    expect(res.fingerprint256).toBe(fingerprint(2));
    const pub = await open.waitFor((f) => f.push === 'pub' && f['data'] === 'after');
    expect(pub['channel']).toBe('project:tls-reload');
    expect(open.closeCode).toBeNull();
    open.close();
  });

  it('a reload from a bad file throws SB_ERR_TLS naming it and keeps the certificate in use', async () => {
    const before = s.server.tls?.fingerprint256;
    writeFileSync(files.cert, 'not a certificate\n');
    const err = (await s.server.reloadTls().catch((e: unknown) => e)) as SwitchboardError;
    expect(err).toBeInstanceOf(SwitchboardError);
    expect(err.code).toBe('SB_ERR_TLS');
    expect(err.message).toContain(files.cert);
    expect(s.server.tls?.fingerprint256).toBe(before);
    expect((await peerCertificate(s.port)).fingerprint256).toBe(before);
    expect((await https('GET', `${s.httpUrl}/healthz`)).status).toBe(200);
  });

  it('/metrics shows the expiry of the certificate in use and the reloads above by result', async () => {
    const metrics = (await https('GET', `${s.httpUrl}/metrics`)).body;
    const notAfter = Date.parse(new X509Certificate(readFileSync(pem('server2.pem'))).validTo) / 1000;
    expect(metrics).toContain(`switchboard_tls_certificate_expiry_timestamp_seconds ${notAfter}`);
    expect(metrics).toContain('switchboard_tls_reloads_total{result="ok"} 1');
    expect(metrics).toContain('switchboard_tls_reloads_total{result="failed"} 1');
  });
});

describe('TLS handshakes', () => {
  it('a connection that never completes its TLS handshake is closed after timeouts.httpHeaders', async () => {
    const s = await startTestServer({ tlsCert: pem('server1.pem'), tlsKey: pem('server1.key'), timeouts: { httpHeaders: '300ms' } });
    try {
      const socket = createConnection({ host: '127.0.0.1', port: s.port });
      let closedAt = 0;
      socket.on('close', () => {
        closedAt = Date.now();
      });
      socket.on('error', () => {});
      const opened = Date.now();
      await vi.waitFor(() => expect(closedAt).toBeGreaterThan(0), { timeout: 5000, interval: 20 });
      expect(closedAt - opened).toBeGreaterThanOrEqual(250);
    } finally {
      await s.close();
    }
  });
});

describe('TLS files refused at start, naming the file', () => {
  const start = async (tls: { tlsCert?: string; tlsKey?: string; tlsPassphrase?: string }) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-tls-data-'));
    try {
      const server = await Switchboard.create({ config: { logLevel: 'silent', host: '127.0.0.1', port: 0, dataDir, ...tls } });
      await server.close();
      throw new Error('expected the start to be refused');
    } catch (err) {
      expect(err).toBeInstanceOf(SwitchboardError);
      return err as SwitchboardError;
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  };

  it.each([
    ['a missing certificate file', { tlsCert: pem('missing.pem'), tlsKey: pem('server1.key') }, pem('missing.pem'), /cannot be read: ENOENT/],
    ['a missing key file', { tlsCert: pem('server1.pem'), tlsKey: pem('missing.key') }, pem('missing.key'), /cannot be read: ENOENT/],
    ['an unreadable certificate path (a directory)', { tlsCert: dir, tlsKey: pem('server1.key') }, dir, /cannot be read: EISDIR/],
    ['a certificate file that is not PEM', { tlsCert: pem('san.cnf'), tlsKey: pem('server1.key') }, pem('san.cnf'), /holds no PEM certificate/],
    ['a certificate file with a broken PEM body', { tlsCert: pem('garbage.pem'), tlsKey: pem('server1.key') }, pem('garbage.pem'), /holds no PEM certificate/],
    ['a key file that holds a certificate', { tlsCert: pem('server1.pem'), tlsKey: pem('server1.pem') }, pem('server1.pem'), /holds no usable PEM private key/],
    ['a key of another certificate', { tlsCert: pem('server1.pem'), tlsKey: pem('server2.key') }, pem('server2.key'), /does not match the certificate/],
    [
      'an encrypted key without a passphrase',
      { tlsCert: pem('server1.pem'), tlsKey: pem('server1.enc.key') },
      pem('server1.enc.key'),
      /is encrypted: give its passphrase \(tlsPassphrase/,
    ],
    [
      'an encrypted key with a wrong passphrase',
      { tlsCert: pem('server1.pem'), tlsKey: pem('server1.enc.key'), tlsPassphrase: 'wrong' },
      pem('server1.enc.key'),
      /the passphrase \(tlsPassphrase\) does not decrypt it/,
    ],
  ])('%s is SB_ERR_TLS', async (_what, tls, file, detail) => {
    const err = await start(tls);
    expect(err.code).toBe('SB_ERR_TLS');
    expect(err.message).toContain(file);
    expect(err.message).toMatch(detail);
  });

  it('an encrypted key with its passphrase is used, and the server never needs the passphrase again', async () => {
    const s = await startTestServer({ tlsCert: pem('server1.pem'), tlsKey: pem('server1.enc.key'), tlsPassphrase: 'correct horse' });
    try {
      expect((await peerCertificate(s.port)).fingerprint256).toBe(fingerprint(1));
      expect((await https('GET', `${s.httpUrl}/healthz`)).status).toBe(200);
      expect((await s.server.reloadTls()).fingerprint256).toBe(fingerprint(1));
    } finally {
      await s.close();
    }
  });

  it('a certificate without a key, or a key without a certificate, is SB_ERR_CONFIG_INVALID naming the missing option', async () => {
    const noKey = await start({ tlsCert: pem('server1.pem') });
    expect(noKey.code).toBe('SB_ERR_CONFIG_INVALID');
    expect(noKey.message).toContain('tlsKey (--tls-key / SWITCHBOARD_TLS_KEY)');
    const noCert = await start({ tlsKey: pem('server1.key') });
    expect(noCert.code).toBe('SB_ERR_CONFIG_INVALID');
    expect(noCert.message).toContain('tlsCert (--tls-cert / SWITCHBOARD_TLS_CERT)');
  });
});

describe('switchboard serve with --tls-cert / --tls-key', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  function serve(args: string[]) {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-tls-cli-'));
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--data', dataDir, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const output = { stdout: '', stderr: '' };
    child.stdout?.on('data', (d) => {
      output.stdout += d;
    });
    child.stderr?.on('data', (d) => {
      output.stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, output, exited, dataDir };
  }

  it('reloads the certificate on SIGHUP: open WSS connections stay and keep receiving, new handshakes get the new one; a bad file is logged and the old one kept', async () => {
    const files = install(join(dir, 'live-cli'), pem('server1.pem'), pem('server1.key'));
    const { child, output, exited, dataDir } = serve(['--tls-cert', files.cert, '--tls-key', files.key, '--log-level', 'info']);
    await vi.waitFor(() => expect(output.stdout).toMatch(/Try it:.*\n/), { timeout: 20_000, interval: 20 });
    const out = output.stdout;
    const port = Number((/listening on port (\d+)/.exec(out) as RegExpExecArray)[1]);
    expect(out).toContain(`wss://127.0.0.1:${port}/ws`);
    expect(out).toContain(`https://127.0.0.1:${port}/healthz`);
    expect(out).toContain(`https://127.0.0.1:${port}/api/v1/publish`);
    expect(out).toContain(fingerprint(1));
    const token = (/Token \(tenant demo[^)]*\): (\S+)/.exec(out) as RegExpExecArray)[1] as string;
    const apiKey = (/Admin API key: (\S+)/.exec(out) as RegExpExecArray)[1] as string;
    const publish = (data: unknown) =>
      https('POST', `https://127.0.0.1:${port}/api/v1/publish`, {
        headers: { authorization: `Bearer ${apiKey}`, 'x-switchboard-tenant': 'demo' },
        body: { channel: 'project:1', data },
      });

    const open = await RawClient.connect(`wss://127.0.0.1:${port}/ws`, token, { ca });
    await open.call('subscribe', { channel: 'project:1' });
    expect((await publish('first')).status).toBe(200);
    await open.waitFor((f) => f.push === 'pub' && f['data'] === 'first');
    expect((await peerCertificate(port)).fingerprint256).toBe(fingerprint(1));

    install(join(dir, 'live-cli'), pem('server2.pem'), pem('server2.key'));
    child.kill('SIGHUP');
    await vi.waitFor(async () => expect((await peerCertificate(port)).fingerprint256).toBe(fingerprint(2)), WAIT);
    expect((await peerCertificate(port)).serialNumber).toBe('5B02');
    expect(output.stdout).toContain('SIGHUP: reloading the TLS certificate and key');
    expect(output.stdout).toContain('TLS certificate reloaded');
    const second = await publish('second');
    expect(second.status).toBe(200);
    expect(second.fingerprint256).toBe(fingerprint(2));
    await open.waitFor((f) => f.push === 'pub' && f['data'] === 'second');
    expect(open.closeCode).toBeNull();

    // A renewal that left a broken file: logged with the file's name, the certificate in use kept.
    writeFileSync(files.cert, 'half-written\n');
    child.kill('SIGHUP');
    await vi.waitFor(() => expect(output.stdout).toContain('TLS reload failed; keeping the certificate in use'), WAIT);
    const failure = output.stdout.split('\n').find((l) => l.includes('TLS reload failed')) as string;
    expect(failure).toContain(files.cert);
    expect(failure).toContain('SB_ERR_TLS');
    expect(JSON.parse(failure)).toMatchObject({ level: 50 });
    expect((await peerCertificate(port)).fingerprint256).toBe(fingerprint(2));
    expect((await https('GET', `https://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect((await publish('third')).status).toBe(200);
    await open.waitFor((f) => f.push === 'pub' && f['data'] === 'third');
    expect(open.closeCode).toBeNull();

    open.close();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(child.signalCode).toBeNull();
    rmSync(dataDir, { recursive: true, force: true });
  }, 40_000);

  it('refuses to start with a missing certificate file: exit 1, the message names the file', async () => {
    const missing = join(dir, 'nowhere', 'fullchain.pem');
    const { output, exited, dataDir } = serve(['--tls-cert', missing, '--tls-key', pem('server1.key'), '--log-level', 'silent']);
    expect(await exited).toBe(1);
    expect(output.stderr).toContain(`SB_ERR_TLS: tlsCert file ${missing} cannot be read`);
    expect(output.stdout).not.toContain('listening');
    rmSync(dataDir, { recursive: true, force: true });
  }, 20_000);
});
