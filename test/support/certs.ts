import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** PEM texts of a throwaway CA and a server certificate it signed. */
export interface TestCertificate {
  /** The CA certificate: pass it as `ca` to trust `cert`. */
  ca: string;
  cert: string;
  key: string;
}

const cache = new Map<string, Promise<TestCertificate>>();

/**
 * A CA and a server certificate (EC P-256, 7 days) whose subjectAltNames are `names` and
 * 127.0.0.1, made with the openssl CLI. Cached per name list for the life of the process.
 */
export function createTestCertificate(names: readonly string[] = ['localhost']): Promise<TestCertificate> {
  const key = names.join(',');
  let pending = cache.get(key);
  if (!pending) {
    pending = generate(names);
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
  }
  return pending;
}

async function generate(names: readonly string[]): Promise<TestCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'shared-bosh-cert-'));
  try {
    const file = (name: string) => join(dir, name);
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await run('openssl', ['req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '7',
      '-subj', '/CN=shared-bosh scripted server CA', '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    await run('openssl', ['req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', `/CN=${names[0]}`]);
    const sans = [...names.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',');
    await writeFile(file('server.ext'), [
      `subjectAltName=${sans}`,
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'));
    await run('openssl', ['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
      '-CAcreateserial', '-out', file('server.crt'), '-days', '7', '-extfile', file('server.ext')]);
    const [ca, cert, key] = await Promise.all(['ca.pem', 'server.crt', 'server.key'].map((n) => readFile(file(n), 'utf8')));
    return { ca: ca!, cert: cert!, key: key! };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
