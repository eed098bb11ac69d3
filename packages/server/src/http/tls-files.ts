import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { createError } from '../errors/sb-error.js';

/** Where the server's certificate and key are read from (`tlsCert`, `tlsKey`). */
export interface TlsFiles {
  cert: string;
  key: string;
  /** Passphrase of an encrypted key (`tlsPassphrase`). */
  passphrase?: string | undefined;
}

/** A certificate and its key as read and checked: what the HTTPS server is given. */
export interface TlsMaterial {
  cert: Buffer;
  /** The key as PEM, decrypted when the file is encrypted: the server never needs the passphrase. */
  key: Buffer | string;
  /** SHA-256 fingerprint of the leaf certificate (`AB:CD:…`), for logs. */
  fingerprint256: string;
  /** The leaf certificate's notAfter, as the certificate says it. */
  validTo: string;
  subject: string;
}

function read(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw createError('SB_ERR_TLS', `${option} file ${path} cannot be read: ${(err as Error).message}`);
  }
}

/**
 * Read the PEM files and check them before any socket sees them: the certificate parses,
 * the key parses and belongs to it. Every refusal names the file, so an operator whose
 * renewal left a half-written or mismatched pair knows which one to look at.
 */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  const cert = read('tlsCert', files.cert);
  const key = read('tlsKey', files.key);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw createError('SB_ERR_TLS', `tlsCert file ${files.cert} holds no PEM certificate: ${(err as Error).message}`);
  }
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(key.toString('latin1'));
  if (encrypted && files.passphrase === undefined) {
    throw createError('SB_ERR_TLS', `tlsKey file ${files.key} is encrypted: give its passphrase (tlsPassphrase / SWITCHBOARD_TLS_PASSPHRASE)`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(encrypted ? { key, passphrase: files.passphrase as string } : key);
  } catch (err) {
    const why = encrypted ? 'the passphrase (tlsPassphrase) does not decrypt it' : 'holds no usable PEM private key';
    throw createError('SB_ERR_TLS', `tlsKey file ${files.key}: ${why}: ${(err as Error).message}`);
  }
  const usableKey = encrypted ? privateKey.export({ type: 'pkcs8', format: 'pem' }) : key;
  if (!leaf.checkPrivateKey(privateKey)) {
    throw createError('SB_ERR_TLS', `tlsKey file ${files.key} does not match the certificate in tlsCert file ${files.cert}`);
  }
  try {
    // What the server will do with them: a chain after the leaf must parse too.
    createSecureContext({ cert, key: usableKey });
  } catch (err) {
    throw createError('SB_ERR_TLS', `tlsCert file ${files.cert} with tlsKey file ${files.key}: ${(err as Error).message}`);
  }
  return { cert, key: usableKey, fingerprint256: leaf.fingerprint256, validTo: leaf.validTo, subject: leaf.subject };
}
