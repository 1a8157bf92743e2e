import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, normalize } from 'node:path';

/**
 * Data flows one way: HTTP request -> bosh (session) -> shared (link) -> xmpp (upstream stream),
 * and back through the ports that bosh/ declares. This reads every module under src/, folders and
 * top-level files alike, with its static imports and re-exports, side-effect imports and dynamic
 * `import('...')`, and fails on any edge that the table below does not allow.
 *
 * A unit is a folder under src/ or a top-level file (by its name without `.ts`). Every unit may
 * import itself. Tests (`*.test.ts`) may also import test/support/; nothing else under src/ may
 * import from outside src/.
 */
const ALLOWED: Record<string, readonly string[]> = {
  // Leaves: protocol names, time, logging, the XML tree and parsers.
  protocol: [],
  clock: [],
  log: [],
  metrics: [],
  // The flags Node runs the CM with.
  'node-flags': [],
  xml: ['protocol'],
  // The upstream XMPP stream knows nothing of BOSH.
  xmpp: ['xml', 'protocol', 'clock', 'log'],
  // The BOSH protocol and sessions: declares its ports, never imports shared/, xmpp/ or http/.
  bosh: ['xml', 'protocol', 'clock', 'log'],
  // Links implement bosh/'s ports over xmpp/ streams.
  shared: ['bosh', 'xmpp', 'xml', 'protocol', 'clock', 'log', 'metrics'],
  // The only place that touches node:http; hands exchanges to bosh/.
  http: ['bosh', 'xml', 'protocol', 'clock', 'log', 'config', 'metrics'],
  // The client library runs in browsers: protocol names, the XML tree and the clock only.
  client: ['protocol', 'xml', 'clock'],
  // Configuration and the composition root.
  config: [],
  'config-load': ['config', 'log'],
  'config-docs': ['config', 'config-load'],
  // The upstream check (shared-bosh check, the check at start, readiness).
  check: ['xmpp', 'xml', 'protocol', 'config', 'clock', 'log'],
  cm: ['bosh', 'shared', 'xmpp', 'http', 'config', 'clock', 'log', 'metrics', 'protocol', 'xml', 'check'],
  main: ['cm', 'config-load', 'config', 'log', 'check', 'clock', 'node-flags'],
  index: ['cm', 'config', 'bosh', 'protocol', 'log'],
};

/** Relative specifiers of every import, re-export and dynamic import in a module's text. */
export function importsOf(source: string): string[] {
  const specs: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s[^'"`;]*?\sfrom\s+['"]([^'"]+)['"]/gm, // import x from '...'; export { x } from '...'
    /^\s*import\s+['"]([^'"]+)['"]/gm, // import '...'
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, // import('...')
  ];
  for (const pattern of patterns) for (const m of source.matchAll(pattern)) specs.push(m[1]!);
  return specs.filter((s) => s.startsWith('.'));
}

function modules(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? modules(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function unitOf(path: string): string {
  const parts = relative('src', path).split('/');
  return parts.length === 1 ? parts[0]!.replace(/(\.test)?\.(ts|js)$/, '') : parts[0]!;
}

test('architecture: every import between units of src/ is an allowed edge of the data flow', () => {
  const violations: string[] = [];
  const unknown = new Set<string>();
  for (const file of modules('src')) {
    const from = unitOf(file);
    const isTest = file.endsWith('.test.ts');
    const allowed = ALLOWED[from];
    if (!allowed) unknown.add(from);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = normalize(join(dirname(file), spec));
      if (!target.startsWith('src/')) {
        if (!isTest) violations.push(`${file} (not a test) imports ${spec}, outside src/`);
        continue;
      }
      const to = unitOf(target);
      if (to !== from && !allowed?.includes(to)) violations.push(`${file} (${from}) imports ${spec} (${to})`);
    }
  }
  assert.deepEqual([...unknown], [], 'every unit of src/ has a row in ALLOWED');
  assert.deepEqual(violations, []);
});

test('architecture: the import reader sees static, multi-line, side-effect and dynamic imports', () => {
  const source = [
    "import { a } from './a.js';",
    'import {',
    '  b,',
    "} from '../b/b.js';",
    "export { c } from './c.js';",
    "import './d.js';",
    "const { e } = await import('./e.js');",
    "import { f } from 'node:fs';",
  ].join('\n');
  assert.deepEqual(importsOf(source).sort(), ['../b/b.js', './a.js', './c.js', './d.js', './e.js']);
});
