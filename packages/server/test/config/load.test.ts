import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SwitchboardError } from '../../src/errors/sb-error.js';
import { fromEnv, fromFlags, loadConfig, parseConfig } from '../../src/features/builtin.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-config-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
function file(content: unknown): string {
  const path = join(dir, `config-${++files}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const flags = (entries: Record<string, string>) => new Map(Object.entries(entries));

function refusal(fn: () => unknown): SwitchboardError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SwitchboardError);
    return err as SwitchboardError;
  }
  throw new Error('expected the configuration to be refused');
}

describe('loadConfig defaults', () => {
  const config = loadConfig({ env: {} });

  it('fills every option with its default', () => {
    expect(config.port).toBe(7070);
    expect(config.host).toBe('0.0.0.0');
    expect(config.dataDir).toBe('./data');
    expect(config.development).toBe(true);
    expect(config.allowedOrigins).toEqual([]);
    expect(config.limits.maxMessageBytes).toBe(65_536);
    expect(config.limits.connectionsPerUser).toBe(32);
    expect(config.timeouts.handshake).toBe(10_000);
    expect(config.timeouts.idempotency).toBe(300_000);
    expect(config.auth.maxTokenLifetime).toBe(86_400_000);
    expect(config.auth.secret).toBeUndefined();
  });

  it('declares the default namespaces with their options', () => {
    expect(Object.keys(config.namespaces).sort()).toEqual([
      'activity',
      'analytics',
      'chat',
      'comments',
      'dashboard',
      'demo',
      'doc',
      'form',
      'metrics',
      'project',
      'system',
      'user',
    ]);
    expect(config.namespaces['doc']).toMatchObject({ documents: true, historySize: 0, clientPublish: false });
    expect(config.namespaces['form']).toMatchObject({ records: { policy: 'merge', lockedFields: true }, clientPublish: false, locks: true });
    expect(config.namespaces['chat']).toMatchObject({ historySize: 100, historyTtl: 300_000, subscribe: 'capability', clientPublish: true });
    expect(config.namespaces['user']).toMatchObject({ subscribe: 'owner', clientPublish: false, presence: false });
    expect(config.namespaces['demo']).toMatchObject({
      presence: true,
      signals: true,
      clientPublish: true,
      comments: true,
      locks: true,
      documents: { maxDocumentBytes: 1024 * 1024, maxUpdateBytes: 64 * 1024 },
      conflation: { windowMs: 100, key: 'job' },
    });
  });

  it('is deeply frozen', () => {
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.limits)).toBe(true);
    expect(Object.isFrozen(config.namespaces['chat'])).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});

describe('loadConfig sources', () => {
  it('reads SWITCHBOARD_PORT and nested SWITCHBOARD_LIMITS_MAX_MESSAGE_BYTES as numbers', () => {
    const config = loadConfig({ env: { SWITCHBOARD_PORT: '8081', SWITCHBOARD_LIMITS_MAX_MESSAGE_BYTES: '2048' } });
    expect(config.port).toBe(8081);
    expect(config.limits.maxMessageBytes).toBe(2048);
    expect(config.limits.connectionsPerUser).toBe(32);
  });

  it('reads --port, --data and --limits.max-message-bytes', () => {
    const config = loadConfig({ env: {}, flags: flags({ '--port': '9000', '--data': '/var/lib/sb', '--limits.max-message-bytes': '4096' }) });
    expect([config.port, config.dataDir, config.limits.maxMessageBytes]).toEqual([9000, '/var/lib/sb', 4096]);
  });

  it('reads the full flag of an aliased option too', () => {
    expect(loadConfig({ env: {}, flags: flags({ '--data-dir': '/srv' }) }).dataDir).toBe('/srv');
  });

  it('applies defaults < file < env < flags', () => {
    const path = file({ port: 1001, host: '127.0.0.1', dataDir: '/from-file', limits: { maxMessageBytes: 1111 } });
    const env = { SWITCHBOARD_PORT: '1002', SWITCHBOARD_DATA_DIR: '/from-env' };
    const config = loadConfig({ file: path, env, flags: flags({ '--port': '1003' }) });
    expect(config.port).toBe(1003);
    expect(config.dataDir).toBe('/from-env');
    expect(config.host).toBe('127.0.0.1');
    expect(config.limits.maxMessageBytes).toBe(1111);
    expect(config.logLevel).toBe('info');
    expect(loadConfig({ file: path, env }).port).toBe(1002);
    expect(loadConfig({ file: path, env: {} }).port).toBe(1001);
  });

  it('merges nested objects from different sources key by key', () => {
    const path = file({ limits: { maxMessageBytes: 2048 } });
    const config = loadConfig({
      file: path,
      env: { SWITCHBOARD_LIMITS_MAX_CHANNELS_PER_CONNECTION: '7' },
      flags: flags({ '--limits.signals-per-second': '3' }),
    });
    expect(config.limits).toMatchObject({ maxMessageBytes: 2048, maxChannelsPerConnection: 7, signalsPerSecond: 3 });
  });

  it('replaces the namespaces as a whole instead of merging them with the defaults', () => {
    const config = loadConfig({ env: { SWITCHBOARD_NAMESPACES: '{"rooms":{"historySize":5}}' } });
    expect(Object.keys(config.namespaces)).toEqual(['rooms']);
    expect(config.namespaces['rooms']).toMatchObject({ historySize: 5, historyTtl: 300_000, subscribe: 'capability' });
  });

  it('reads the file named by SWITCHBOARD_CONFIG', () => {
    const path = file({ port: 4242 });
    expect(loadConfig({ env: { SWITCHBOARD_CONFIG: path } }).port).toBe(4242);
  });

  it('ignores empty environment variables', () => {
    expect(loadConfig({ env: { SWITCHBOARD_PORT: '', SWITCHBOARD_HOST: '' } })).toMatchObject({ port: 7070, host: '0.0.0.0' });
  });

  it('reads SWITCHBOARD_SECRET as an alias that yields to SWITCHBOARD_AUTH_SECRET', () => {
    const a = 'a'.repeat(32);
    const b = 'b'.repeat(32);
    expect(loadConfig({ env: { SWITCHBOARD_SECRET: a } }).auth.secret).toBe(a);
    expect(loadConfig({ env: { SWITCHBOARD_SECRET: a, SWITCHBOARD_AUTH_SECRET: b } }).auth.secret).toBe(b);
  });

  it('parses booleans and comma lists from text', () => {
    const config = loadConfig({ env: { SWITCHBOARD_DEVELOPMENT: 'false', SWITCHBOARD_ALLOWED_ORIGINS: 'https://a.example, https://b.example,,' } });
    expect(config.development).toBe(false);
    expect(config.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(loadConfig({ env: { SWITCHBOARD_DEVELOPMENT: '0' } }).development).toBe(false);
    expect(loadConfig({ env: { SWITCHBOARD_DEVELOPMENT: '1' } }).development).toBe(true);
  });

  it('accepts durations such as "10s" from every source and yields milliseconds', () => {
    const path = file({ timeouts: { handshake: '10s', ping: 1_234 } });
    const config = loadConfig({ file: path, env: { SWITCHBOARD_TIMEOUTS_PONG: '250ms' }, flags: flags({ '--timeouts.idle': '1.5m' }) });
    expect(config.timeouts).toMatchObject({ handshake: 10_000, ping: 1_234, pong: 250, idle: 90_000 });
  });

  it('reads the TLS files from --tls-cert / --tls-key and SWITCHBOARD_TLS_CERT / SWITCHBOARD_TLS_KEY', () => {
    const fromFlags = loadConfig({ env: {}, flags: flags({ '--tls-cert': '/etc/sb/fullchain.pem', '--tls-key': '/etc/sb/privkey.pem' }) });
    expect([fromFlags.tlsCert, fromFlags.tlsKey]).toEqual(['/etc/sb/fullchain.pem', '/etc/sb/privkey.pem']);
    const fromVars = loadConfig({ env: { SWITCHBOARD_TLS_CERT: 'c.pem', SWITCHBOARD_TLS_KEY: 'k.pem' } });
    expect([fromVars.tlsCert, fromVars.tlsKey]).toEqual(['c.pem', 'k.pem']);
    expect(loadConfig({ env: {} }).tlsCert).toBeUndefined();
  });

  it('applies overrides given in code last', () => {
    expect(loadConfig({ env: { SWITCHBOARD_PORT: '1' }, flags: flags({ '--port': '2' }), overrides: { port: 0 } }).port).toBe(0);
  });
});

describe('loadConfig refusals', () => {
  it('refuses a bad value with SB_ERR_CONFIG_INVALID naming the option, its flag and its variable', () => {
    const err = refusal(() => loadConfig({ env: { SWITCHBOARD_PORT: 'eighty' } }));
    expect(err.code).toBe('SB_ERR_CONFIG_INVALID');
    expect(err.message).toContain('port (--port / SWITCHBOARD_PORT)');
  });

  it('names nested options the same way', () => {
    const err = refusal(() => loadConfig({ env: {}, flags: flags({ '--limits.max-message-bytes': '5' }) }));
    expect(err.code).toBe('SB_ERR_CONFIG_INVALID');
    expect(err.message).toContain('limits.maxMessageBytes (--limits.max-message-bytes / SWITCHBOARD_LIMITS_MAX_MESSAGE_BYTES)');
  });

  it.each([
    ['a port out of range', { SWITCHBOARD_PORT: '65536' }, 'port'],
    ['a fractional integer', { SWITCHBOARD_LIMITS_CONNECTIONS_PER_USER: '1.5' }, 'limits.connectionsPerUser'],
    ['a boolean that is not one', { SWITCHBOARD_DEVELOPMENT: 'yes' }, 'development'],
    ['a bad duration', { SWITCHBOARD_TIMEOUTS_HANDSHAKE: '10 seconds' }, 'timeouts.handshake'],
    ['a negative duration', { SWITCHBOARD_TIMEOUTS_HANDSHAKE: '-5s' }, 'timeouts.handshake'],
    ['an unknown log level', { SWITCHBOARD_LOG_LEVEL: 'verbose' }, 'logLevel'],
    ['a short secret', { SWITCHBOARD_AUTH_SECRET: 'short' }, 'auth.secret'],
  ])('refuses %s', (_label, env, key) => {
    const err = refusal(() => loadConfig({ env }));
    expect(err.code).toBe('SB_ERR_CONFIG_INVALID');
    expect(err.message).toContain(`  ${key} (`);
  });

  it('refuses a TLS certificate without its key and a key without its certificate, naming the missing one', () => {
    const noKey = refusal(() => loadConfig({ env: { SWITCHBOARD_TLS_CERT: 'c.pem' } }));
    expect(noKey.code).toBe('SB_ERR_CONFIG_INVALID');
    expect(noKey.message).toContain('tlsKey (--tls-key / SWITCHBOARD_TLS_KEY): tlsCert is set without tlsKey');
    const noCert = refusal(() => loadConfig({ env: {}, flags: flags({ '--tls-key': 'k.pem' }) }));
    expect(noCert.message).toContain('tlsCert (--tls-cert / SWITCHBOARD_TLS_CERT): tlsKey is set without tlsCert');
    const passphraseAlone = refusal(() => loadConfig({ env: { SWITCHBOARD_TLS_PASSPHRASE: 'x' } }));
    expect(passphraseAlone.message).toContain('tlsPassphrase (--tls-passphrase / SWITCHBOARD_TLS_PASSPHRASE): tlsPassphrase is set without tlsKey');
  });

  it('refuses an unknown key in a file, at the top level and nested', () => {
    const top = refusal(() => loadConfig({ file: file({ prot: 8080 }), env: {} }));
    expect(top.code).toBe('SB_ERR_CONFIG_INVALID');
    expect(top.message).toContain('unknown option prot');
    const nested = refusal(() => loadConfig({ file: file({ limits: { maxMessageByte: 2048 } }), env: {} }));
    expect(nested.message).toContain('unknown option limits.maxMessageByte');
    const ns = refusal(() => loadConfig({ file: file({ namespaces: { chat: { histroySize: 1 } } }), env: {} }));
    expect(ns.message).toContain('histroySize');
  });

  it('refuses an invalid namespace name', () => {
    const err = refusal(() => loadConfig({ file: file({ namespaces: { Chat: {} } }), env: {} }));
    expect(err.code).toBe('SB_ERR_CONFIG_INVALID');
    expect(err.message).toContain('namespaces');
  });

  it('refuses __proto__ keys in a file instead of changing prototypes', () => {
    expect(refusal(() => loadConfig({ file: file('{"__proto__":{"port":1}}'), env: {} })).message).toContain('"__proto__" is not a valid key');
    expect(refusal(() => loadConfig({ file: file('{"limits":{"__proto__":{"maxMessageBytes":2048}}}'), env: {} })).message).toContain(
      '"__proto__" is not a valid key',
    );
    expect(({} as Record<string, unknown>)['port']).toBeUndefined();
  });

  it('refuses an unknown flag', () => {
    const err = refusal(() => loadConfig({ env: {}, flags: flags({ '--prot': '1' }) }));
    expect(err.code).toBe('SB_ERR_CONFIG_INVALID');
    expect(err.message).toContain('unknown option --prot');
  });

  it('refuses JSON options that are not JSON', () => {
    const err = refusal(() => loadConfig({ env: { SWITCHBOARD_NAMESPACES: '{rooms:{}}' } }));
    expect(err.code).toBe('SB_ERR_CONFIG_INVALID');
    expect(err.message).toContain('namespaces (SWITCHBOARD_NAMESPACES): expected JSON');
  });

  it('refuses a missing, unparsable or non-object file with SB_ERR_CONFIG_FILE', () => {
    expect(refusal(() => loadConfig({ file: join(dir, 'missing.json'), env: {} })).code).toBe('SB_ERR_CONFIG_FILE');
    expect(refusal(() => loadConfig({ file: file('{"port": 1,}'), env: {} })).code).toBe('SB_ERR_CONFIG_FILE');
    expect(refusal(() => loadConfig({ file: file('[1,2]'), env: {} })).code).toBe('SB_ERR_CONFIG_FILE');
    expect(refusal(() => loadConfig({ file: file('null'), env: {} })).code).toBe('SB_ERR_CONFIG_FILE');
  });

  it('lists every problem, one per line', () => {
    const err = refusal(() => loadConfig({ env: { SWITCHBOARD_PORT: 'x', SWITCHBOARD_LOG_LEVEL: 'loud' } }));
    const lines = err.message.split('\n').filter((l) => l.startsWith('  '));
    expect(lines).toHaveLength(2);
    expect(err.message).toMatch(/^SB_ERR_CONFIG_INVALID: invalid configuration:\n/);
  });
});

describe('a __proto__ namespace in a file or SWITCHBOARD_NAMESPACES is refused', () => {
  it('refuses a namespace named __proto__ like any other invalid namespace name', () => {
    const err = refusal(() => loadConfig({ file: file('{"namespaces":{"__proto__":{}}}'), env: {} }));
    expect(err.code).toBe('SB_ERR_CONFIG_INVALID');
  });

  it('refuses it from the environment too', () => {
    const err = refusal(() => loadConfig({ env: { SWITCHBOARD_NAMESPACES: '{"chat":{},"__proto__":{"historySize":1}}' } }));
    expect(err.code).toBe('SB_ERR_CONFIG_INVALID');
  });
});

describe('fromEnv / fromFlags / parseConfig', () => {
  it('fromEnv builds a nested tree from SWITCHBOARD_* variables only', () => {
    expect(fromEnv({ SWITCHBOARD_PORT: '1', SWITCHBOARD_LIMITS_MAX_MESSAGE_BYTES: '2048', PORT: '5', SWITCHBOARD_NOPE: 'x' })).toEqual({
      port: '1',
      limits: { maxMessageBytes: '2048' },
    });
  });

  it('fromFlags maps flags and aliases to the same paths', () => {
    expect(fromFlags(flags({ '--port': '1', '--data': '/d', '--auth.max-token-bytes': '512' }))).toEqual({
      port: '1',
      dataDir: '/d',
      auth: { maxTokenBytes: '512' },
    });
  });

  it('parseConfig validates a plain object', () => {
    expect(parseConfig({ port: 1234 }).port).toBe(1234);
    expect(refusal(() => parseConfig({ port: -1 })).code).toBe('SB_ERR_CONFIG_INVALID');
  });
});
