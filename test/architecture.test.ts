import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, normalize } from 'node:path';

/**
 * Data flows one way (STYLE.md): http -> bosh -> shared -> xmpp. This reads the imports of
 * every module under src/ and fails on an edge against that direction.
 */
const FORBIDDEN: Record<string, string[]> = {
  xml: ['bosh', 'shared', 'xmpp', 'http', 'client'],
  xmpp: ['bosh', 'shared', 'http', 'client'],
  bosh: ['shared', 'xmpp', 'http', 'client'],
  shared: ['http', 'client'],
  http: ['shared', 'xmpp', 'client'],
  client: ['shared', 'xmpp', 'http'],
};

function modules(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? modules(path) : path.endsWith('.ts') ? [path] : [];
  });
}

test('architecture: no module imports against the direction of the data flow', () => {
  const violations: string[] = [];
  for (const file of modules('src')) {
    const from = relative('src', file).split('/')[0]!;
    const isTest = file.endsWith('.test.ts');
    for (const m of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)) {
      const target = normalize(join(dirname(file), m[1]!));
      const to = relative('src', target).split('/')[0]!;
      if (FORBIDDEN[from]?.includes(to)) violations.push(`${file} imports ${m[1]}`);
      if (!isTest && !target.startsWith('src')) violations.push(`${file} (not a test) imports ${m[1]}`);
    }
  }
  assert.deepEqual(violations, []);
});
