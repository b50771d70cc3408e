// The API's HTTPS certificate: a private CA generated on first start (DATA_DIR/tls/ca.crt) and a
// server certificate it signs for this machine's names. kubectl needs it: client-go sends a bearer
// token only over TLS (a kubeconfig with an http:// server authenticates as nobody), so the
// Kubernetes dialect is reached at https://HOST:TLS_PORT/k8s with the CA in the kubeconfig.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import forge from 'node-forge';

export interface TlsMaterial {
  /** PEM of the CA that signed the server certificate (what a kubeconfig's certificate-authority-data holds). */
  ca: string;
  cert: string;
  key: string;
  /** The names and addresses the server certificate is valid for. */
  names: string[];
}

const YEAR_MS = 365 * 86400_000;

function newKey(): { forgeKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  // Node's native key generation; forge only assembles and signs the certificates.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const forgeKey = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), pem: privateKey };
}

function certificate(subject: string, publicKey: forge.pki.PublicKey, years: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + years * YEAR_MS);
  cert.setSubject([{ name: 'commonName', value: subject }, { name: 'organizationName', value: 'Gantry' }]);
  return cert;
}

/** The names a server certificate covers: loopback, this host's name, and the address it listens on. */
export function defaultTlsNames(listenHost: string, extra: string[] = []): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1', hostname(), ...extra]);
  if (listenHost && listenHost !== '0.0.0.0' && listenHost !== '::') names.add(listenHost);
  return [...names];
}

function issue(names: string[]): { caPem: string; caKey: string; cert: string; key: string } {
  const ca = newKey();
  const caCert = certificate('gantry-ca', ca.publicKey, 10);
  caCert.setIssuer(caCert.subject.attributes);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(ca.forgeKey, forge.md.sha256.create());

  const leaf = newKey();
  const cert = certificate('gantry', leaf.publicKey, 5);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })) },
  ]);
  cert.sign(ca.forgeKey, forge.md.sha256.create());
  return { caPem: forge.pki.certificateToPem(caCert), caKey: ca.pem, cert: forge.pki.certificateToPem(cert), key: leaf.pem };
}

async function writeAtomic(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, file);
}

/**
 * DATA_DIR/tls: the CA and server certificate, created on first start and reused after, so a
 * kubeconfig keeps working across restarts. A server certificate whose names no longer cover
 * `names` is issued again by a new CA (the old kubeconfigs must then be fetched again).
 */
export async function loadOrCreateTls(dataDir: string, names: string[]): Promise<TlsMaterial> {
  const dir = path.join(dataDir, 'tls');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files = { ca: path.join(dir, 'ca.crt'), caKey: path.join(dir, 'ca.key'), cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key'), names: path.join(dir, 'names.json') };
  if (existsSync(files.cert) && existsSync(files.key) && existsSync(files.ca) && existsSync(files.names)) {
    const had = JSON.parse(await readFile(files.names, 'utf8')) as string[];
    if (names.every((n) => had.includes(n))) {
      const [ca, cert, key] = await Promise.all([readFile(files.ca, 'utf8'), readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
      return { ca, cert, key, names: had };
    }
  }
  const issued = issue(names);
  await writeAtomic(files.caKey, issued.caKey, 0o600);
  await writeAtomic(files.key, issued.key, 0o600);
  await writeAtomic(files.ca, issued.caPem, 0o644);
  await writeAtomic(files.cert, issued.cert, 0o644);
  await writeAtomic(files.names, JSON.stringify(names), 0o644);
  return { ca: issued.caPem, cert: issued.cert, key: issued.key, names };
}
