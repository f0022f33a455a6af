/**
 * Signed anchors. An anchor (chain head: seq, hash, time) is signed with an
 * Ed25519 key kept outside the data directory, so that someone who can
 * rewrite the database and the anchor file — and so recompute the whole
 * chain — still cannot produce anchors that the public key accepts. A
 * verifier holding only the public key then detects the rewrite.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, createHash, type KeyObject } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import type { Anchor } from './chain.js';
import { MamoriError } from '../errors.js';

/** An audit signing or verifying key that cannot be used. */
export class AuditKeyError extends MamoriError {
  static override readonly code = 'audit-key';
  static override readonly status = 500;
}

/** Exactly what is signed: a version tag, the installation's chain id and the anchor. */
function signedBytes(chainId: string, a: Anchor): Buffer {
  return Buffer.from(`mamori-audit-anchor:v1\n${chainId}\n${a.seq}\n${a.hash}\n${a.ts}`);
}

export function signAnchor(key: KeyObject, chainId: string, a: Anchor): string {
  return sign(null, signedBytes(chainId, a), key).toString('base64');
}

export function anchorSignatureValid(key: KeyObject, chainId: string, a: Anchor): boolean {
  if (!a.sig || !/^[A-Za-z0-9+/]{86}==$/.test(a.sig)) return false;
  return verify(null, signedBytes(chainId, a), key, Buffer.from(a.sig, 'base64'));
}

/** A short fingerprint of a public key, to say which key signed (SHA-256 of its SPKI, 16 hex digits). */
export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/**
 * The signing key named by audit.signingKeyFile: refused inside the data directory (it would share
 * the fate of the database) or readable by group or others, and refused if it is not Ed25519.
 */
export function loadSigningKey(file: string, dataDir: string): KeyObject {
  const path = resolve(file);
  const rel = relative(resolve(dataDir), path);
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
    throw new AuditKeyError(
      `audit.signingKeyFile ${path} lies inside the data directory: whoever can rewrite the database ` +
        'could use it; keep it elsewhere (e.g. /etc/mamori/audit-signing.pem)',
    );
  }
  let mode: number;
  let pem: string;
  try {
    mode = statSync(path).mode;
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new AuditKeyError(`audit.signingKeyFile ${path} cannot be read: ${why}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new AuditKeyError(`audit.signingKeyFile ${path} is readable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 it`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new AuditKeyError(`audit.signingKeyFile ${path} is not a PEM private key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    const type = key.asymmetricKeyType ?? 'unknown';
    throw new AuditKeyError(`audit.signingKeyFile ${path} is a ${type} key; an Ed25519 key is needed (mamori audit keygen)`);
  }
  return key;
}

export function loadPublicKey(file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new AuditKeyError(`public key ${file} cannot be read as a PEM public key: ${(err as NodeJS.ErrnoException).code ?? 'not PEM'}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new AuditKeyError(`public key ${file} is not an Ed25519 key`);
  return key;
}

/** A new key pair: the private key owner-only, never overwriting a file. */
export function generateSigningKeys(privateFile: string, publicFile: string): { keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(privateFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  writeFileSync(publicFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag: 'wx' });
  return { keyId: keyId(publicKey) };
}
