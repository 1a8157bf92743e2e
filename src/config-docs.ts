import { defaultOf, DOMAIN_OPTIONS, OPTIONS } from './config-load.js';
import { options, SECTIONS, type OptionSpec, type Section } from './config.js';

/**
 * The option tables of docs/configuration.md, made from the declarations in src/config.ts: one
 * table per section, each between `<!-- options:SECTION -->` and `<!-- /options:SECTION -->`.
 * `node scripts/config-docs.mjs` writes them; test/config-docs.test.ts fails when they are stale.
 */

const settable = new Set<string>([...OPTIONS, ...DOMAIN_OPTIONS].map((spec) => spec.key));

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function keyText(spec: OptionSpec): string {
  if (spec.key === 'domains') return '`domains` (map: name -> settings)';
  return `\`${spec.key.replace('domains.*.', 'domains.<name>.')}\``;
}

function flagText(spec: OptionSpec): string {
  if (spec.flag === undefined) return '';
  if (spec.kind === 'bool') return `\`--${spec.flag}\``;
  return `\`--${spec.flag} ${spec.value ?? 'VALUE'}\`${spec.kind === 'list' ? ' (repeatable)' : ''}`;
}

function defaultText(spec: OptionSpec): string {
  if (spec.defaultText !== undefined) return /^[\w.:-]+$/.test(spec.defaultText) ? `\`${spec.defaultText}\`` : spec.defaultText;
  const text = defaultOf(spec);
  if (spec.kind === 'list') return text === '(none)' ? '`[]`' : `\`[${text.split(',').map((v) => `'${v}'`).join(', ')}]\``;
  return `\`${text}\``;
}

/** The markdown table of one section. */
export function optionTable(section: Section): string {
  const rows = options().filter((spec) => spec.section === section);
  const out = ['| config key | env variable | flag | default | meaning |', '| --- | --- | --- | --- | --- |'];
  for (const spec of rows) {
    const env = spec.env !== undefined && settable.has(spec.key) ? `\`${spec.env}\`${spec.key === 'domains' ? ' (names)' : ''}` : '';
    out.push(`| ${keyText(spec)} | ${env} | ${cell(flagText(spec))} | ${cell(defaultText(spec))} | ${cell(spec.details ?? spec.description)} |`);
  }
  return out.join('\n');
}

/** `text` with every options block replaced by its table; also the names of sections with no block. */
export function renderOptionBlocks(text: string): { text: string; missing: Section[] } {
  const missing: Section[] = [];
  let out = text;
  for (const section of Object.keys(SECTIONS) as Section[]) {
    const begin = `<!-- options:${section} -->`;
    const end = `<!-- /options:${section} -->`;
    const from = out.indexOf(begin);
    const to = out.indexOf(end);
    if (from === -1 || to < from) {
      missing.push(section);
      continue;
    }
    out = `${out.slice(0, from + begin.length)}\n${optionTable(section)}\n${out.slice(to)}`;
  }
  return { text: out, missing };
}
