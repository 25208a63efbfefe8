/**
 * Certificates made by the test with the openssl CLI: a CA, a server certificate it signs (for the name
 * `temporal.test` and 127.0.0.1), a client certificate from a separate client CA, and an unrelated CA that signed
 * nothing here (the "wrong CA").
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const SERVER_NAME = 'temporal.test';

export interface TestCertificates {
  dir: string;
  caCert: string;
  wrongCaCert: string;
  serverCert: string;
  serverKey: string;
  clientCaCert: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate signed by a CA the server does not trust. */
  strangerCert: string;
  strangerKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function ca(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

function leaf(dir: string, name: string, issuer: string, extensions: string): void {
  openssl(dir, [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
  ]);
  fs.writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${issuer}.crt`,
    '-CAkey',
    `${issuer}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    `${name}.crt`,
    '-extfile',
    `${name}.ext`,
  ]);
}

export function makeCertificates(): TestCertificates {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-certs-'));
  ca(dir, 'ca');
  ca(dir, 'wrong-ca');
  ca(dir, 'client-ca');
  leaf(dir, 'server', 'ca', `subjectAltName=DNS:${SERVER_NAME},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`);
  leaf(dir, 'client', 'client-ca', 'extendedKeyUsage=clientAuth\n');
  leaf(dir, 'stranger', 'wrong-ca', 'extendedKeyUsage=clientAuth\n');
  const at = (file: string) => path.join(dir, file);
  return {
    dir,
    caCert: at('ca.crt'),
    wrongCaCert: at('wrong-ca.crt'),
    serverCert: at('server.crt'),
    serverKey: at('server.key'),
    clientCaCert: at('client-ca.crt'),
    clientCert: at('client.crt'),
    clientKey: at('client.key'),
    strangerCert: at('stranger.crt'),
    strangerKey: at('stranger.key'),
  };
}
