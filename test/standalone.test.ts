import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/**
 * The repository stands alone: a fresh clone with nothing beside it builds, tests and reads
 * completely. Every text file the repository holds (`git ls-files`; without git, the tree minus
 * what the .gitignore files exclude) is checked against these rules:
 *
 * 1. No file names the notes this project was once built from outside the repository: the design
 *    notes, checklist and style notes (the upper-case file names built in `OUTSIDE_NOTES`), nor
 *    cites a design decision in their upper-case form ("DESIGN" followed by a decision ID).
 *    Requirements are cited from docs/requirements.md, decisions from docs/design.md.
 * 2. A relative path that climbs to a `shared` folder (dot-dot, slash, "shared", slash) must
 *    land on a folder that exists inside the repository (an import such as src/http ->
 *    src/shared is fine); one that leaves the repository, or names a folder it does not have,
 *    is a reference to something a reader of the repository does not have.
 * 3. No absolute path of a build machine: a slash, one of the top-level folders in
 *    `MACHINE_DIRS` (the work area, root's and users' home folders on Linux and macOS, and the
 *    temp folder), and a slash, when the leading slash starts the path (it does not follow a
 *    letter, digit, or one of `_ . ~ - $ } %` or a slash, so URLs such as
 *    https://example.org/home/x and variables such as $HOME/x are not paths of this machine).
 *    The temp folder gets no exception: code that needs a temporary directory asks
 *    `os.tmpdir()` (and `mkdtemp`), so the literal never has to appear.
 *
 * The rules are plain text matches on the committed files, with no timing or environment in
 * them, so the test cannot be flaky. It builds its own patterns from pieces so that this file
 * itself is checked by the same rules.
 */
const OUTSIDE_NOTES = ['DESIGN', 'CHECKLIST', 'STYLE'].map((name) => `${name}.md`);
const OLD_DECISION_CITATION = new RegExp(`\\b${'DESIGN'} D\\d`);
const CLIMB_TO_SHARED = /(?:\.\.\/)+shared\//g;
const MACHINE_DIRS = ['work', 'root', 'home', 'Users', 'tmp'];
const MACHINE_PATH = new RegExp(`(?<![\\w.~$}%/-])/(?:${MACHINE_DIRS.join('|')})/`);

const root = process.cwd();

/** Every text file of the repository, as paths relative to its root. */
function repositoryFiles(): string[] {
  const git = spawnSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' });
  const tracked = git.status === 0 ? git.stdout.split('\0').filter(Boolean) : walk('', []);
  return tracked.filter((file) => existsSync(join(root, file)) && statSync(join(root, file)).isFile());
}

/** Without git: the tree, minus .git and whatever the .gitignore files on the way exclude. */
function walk(dir: string, inherited: Ignore[]): string[] {
  const ignores = [...inherited, ...readIgnores(dir)];
  const files: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = dir ? `${dir}/${name}` : name;
    const isDir = statSync(join(root, path)).isDirectory();
    if (name === '.git' || ignores.some((ignore) => ignore(path, name, isDir))) continue;
    if (isDir) files.push(...walk(path, ignores));
    else files.push(path);
  }
  return files;
}

type Ignore = (path: string, name: string, isDir: boolean) => boolean;

/** The simple .gitignore patterns this repository uses: names, `name/`, `*.ext`, `sub/dir/`. */
function readIgnores(dir: string): Ignore[] {
  const file = join(root, dir, '.gitignore');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#') && !line.startsWith('!'))
    .map((pattern): Ignore => {
      const dirOnly = pattern.endsWith('/');
      const body = pattern.replace(/^\/|\/$/g, '');
      const glob = new RegExp(`^${body.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
      return (path, name, isDir) => {
        if (dirOnly && !isDir) return false;
        if (!body.includes('/')) return glob.test(name);
        return glob.test(dir ? path.slice(dir.length + 1) : path);
      };
    });
}

/** The violations of one file's text, as `file:line: what`. */
function violations(file: string, text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, index) => {
    const where = `${file}:${index + 1}`;
    for (const name of OUTSIDE_NOTES) if (line.includes(name)) found.push(`${where}: names ${name}, which is outside the repository`);
    if (OLD_DECISION_CITATION.test(line)) found.push(`${where}: cites a decision outside the repository; cite docs/design.md`);
    for (const m of line.matchAll(CLIMB_TO_SHARED)) {
      const target = resolve(root, dirname(file), m[0]);
      const inside = target.startsWith(root + sep) && existsSync(target) && statSync(target).isDirectory();
      if (!inside) found.push(`${where}: ${m[0]} leaves the repository or names a folder it does not have`);
    }
    const machine = MACHINE_PATH.exec(line);
    if (machine) found.push(`${where}: absolute path of a machine (${machine[0]}...)`);
  });
  return found;
}

test('standalone: no tracked file cites notes outside the repository or an absolute path of a machine', () => {
  const files = repositoryFiles();
  assert.ok(files.includes('docs/requirements.md') && files.includes('docs/design.md'), 'the repository holds its own requirements and design');
  const found: string[] = [];
  for (const file of files) {
    const bytes = readFileSync(join(root, file));
    if (bytes.includes(0)) continue; // binary
    found.push(...violations(file, bytes.toString('utf8')));
  }
  assert.deepEqual(found, []);
});

test('standalone: the rules catch each kind of reference and let the legitimate forms through', () => {
  const bad = [
    `see ${OUTSIDE_NOTES[0]} for why`,
    `(${'DESIGN'} D24)`,
    `join(root, '../${'shared'}/spec')`,
    `read '/${MACHINE_DIRS[0]}/x/y'`,
    `cd /${MACHINE_DIRS[4]}/build`,
  ];
  for (const line of bad) assert.notDeepEqual(violations('scripts/x.mjs', line), [], line);
  const good = [
    'see docs/design.md D24 and docs/requirements.md B-50',
    `import { Link } from '../${'shared'}/link.js';`,
    `https://example.org/${MACHINE_DIRS[2]}/page`,
    `"$HOME/${MACHINE_DIRS[0]}/x"`,
    'mkdtemp(join(tmpdir(), "x-"))',
  ];
  for (const line of good) assert.deepEqual(violations('src/http/x.ts', line), [], line);
});
