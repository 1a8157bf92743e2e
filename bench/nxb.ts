/**
 * Where system (e), node-xmpp-bosh, lives: bench/node-xmpp-bosh, a package of its own (its
 * package.json pins node-xmpp-bosh 0.7.10 and overrides its node-expat ~2.0.0, which predates
 * Node's current addon API, with node-expat 2.4.1, same API, built with nan). `npm run
 * bench:install-nxb` installs it there; shared-bosh itself never loads it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/node-xmpp-bosh in the source tree (this file runs from dist/bench). */
export const NXB_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'node-xmpp-bosh');

/** Installed, with its native XML parser built. */
export function nxbInstalled(): boolean {
  return existsSync(join(NXB_DIR, 'node_modules', 'node-xmpp-bosh', 'package.json'))
    && existsSync(join(NXB_DIR, 'node_modules', 'node-expat', 'build', 'Release', 'node_expat.node'));
}

/** "node-xmpp-bosh 0.7.10 (npm), node-expat 2.4.1" as installed. */
export function nxbVersion(): string {
  const version = (pkg: string): string => {
    try {
      return (JSON.parse(readFileSync(join(NXB_DIR, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return '?';
    }
  };
  return `node-xmpp-bosh ${version('node-xmpp-bosh')} (npm), node-expat ${version('node-expat')}`;
}
