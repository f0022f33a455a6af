/**
 * A throw-away certificate authority for TLS tests, made with the openssl
 * command: a CA, a server certificate (for `serverName` and 127.0.0.1) and
 * client certificates, all P-256, valid two days, in `dir`.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPki {
  ca: string;
  serverCert: string;
  serverKey: string;
  client(name: string): { cert: string; key: string };
}

const openssl = (dir: string, args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

export function makePki(dir: string, serverName: string, caName = 'ca'): TestPki {
  const key = (name: string) => openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]);
  key(caName);
  openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-key',
    `${caName}.key`,
    '-out',
    `${caName}.pem`,
    '-days',
    '2',
    '-subj',
    `/CN=${caName} (mamori test)`,
  ]);
  const issue = (name: string, ext: string) => {
    key(name);
    openssl(dir, ['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${caName}.pem`,
      '-CAkey',
      `${caName}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    ]);
    return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  };
  const server = issue(`${caName}-server`, `subjectAltName=DNS:${serverName},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`);
  return {
    ca: join(dir, `${caName}.pem`),
    serverCert: server.cert,
    serverKey: server.key,
    client: (name) => issue(`${caName}-${name}`, 'extendedKeyUsage=clientAuth\n'),
  };
}
