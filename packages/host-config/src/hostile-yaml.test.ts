import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHostConfig } from './parse.ts';
import { MAX_FINDINGS } from './rules/context.ts';
import { MAX_DOCUMENT_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES } from './yaml-source.ts';

/**
 * Documents written to exhaust memory or the stack. The `yaml` package needs about 700 MB to
 * compose a 1 MiB flow sequence; a 10 MB one took a process to 4.2 GB. Every one of these must end
 * in a coded finding, cheaply.
 */

const flow = (elements: number) => `storage:\n  disks: [${'a,'.repeat(elements - 1)}a]\n`;
const codes = (text: string) => parseHostConfig(text).findings.map((f) => f.code);

describe('hostile Host Configuration documents', () => {
  it('a 10 MB flow sequence is refused by size before it is parsed', () => {
    const text = flow(5 * 1024 * 1024);
    expect(Buffer.byteLength(text)).toBeGreaterThan(MAX_DOCUMENT_BYTES);
    const result = parseHostConfig(text);
    expect(result.ok).toBe(false);
    expect(result.findings).toMatchObject([{ code: 'HC_YAML_TOO_LARGE', line: 1, column: 1 }]);
  });

  it('a 3 MB flow sequence (under the size limit) is refused at its 20,001st node, with a position', () => {
    const result = parseHostConfig(flow(1_500_000));
    expect(result.findings).toHaveLength(1);
    expect(result.findings[0]).toMatchObject({ code: 'HC_YAML_TOO_LARGE', line: 2 });
    expect(result.findings[0]!.message).toContain(`more than ${MAX_YAML_NODES} YAML nodes`);
  });

  it('a list just under the node limit gives the first 1000 findings and one that counts the rest', () => {
    const result = parseHostConfig(flow(MAX_YAML_NODES - 100));
    expect(result.ok).toBe(false);
    const invalid = result.findings.filter((f) => f.code === 'HC_INVALID_TYPE');
    expect(invalid).toHaveLength(MAX_FINDINGS);
    expect(result.findings.at(-1)).toMatchObject({ code: 'HC_FINDINGS_TRUNCATED', severity: 'error' });
    expect(result.findings.at(-1)!.message).toMatch(/^18900 more error\(s\)/u);
  });

  it('aliases that expand past the limit are refused (no billion laughs)', () => {
    const text = [
      `a: &a [${'x,'.repeat(99)}x]`,
      `b: &b [${'*a,'.repeat(99)}*a]`,
      `c: &c [${'*b,'.repeat(99)}*b]`,
      `d: [${'*c,'.repeat(99)}*c]`,
    ].join('\n');
    expect(codes(text)).toContain('HC_YAML_TOO_LARGE');
  });

  it('flow nesting 100,000 deep is HC_YAML_TOO_DEEP, not a stack overflow', () => {
    const result = parseHostConfig(`a: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
    expect(result.findings).toMatchObject([
      { code: 'HC_YAML_TOO_DEEP', line: 1, column: 3 + MAX_YAML_DEPTH + 1 },
    ]);
  });

  it('block nesting deeper than the limit is refused too', () => {
    let text = '';
    for (let depth = 0; depth < MAX_YAML_DEPTH + 10; depth++) text += `${' '.repeat(depth)}k${depth}:\n`;
    text += `${' '.repeat(MAX_YAML_DEPTH + 10)}leaf\n`;
    expect(codes(text)).toContain('HC_YAML_TOO_DEEP');
  });

  it('compact block sequences 100,000 deep end in a coded finding', () => {
    const found = codes(`${'- '.repeat(100_000)}x\n`);
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((c) => c.startsWith('HC_YAML_'))).toBe(true);
  });
});

describe('in a process with a 160 MiB heap', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hc-hostile-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('every hostile document is answered, none crashes the process', async () => {
    const script = join(dir, 'run.ts');
    await writeFile(
      script,
      `import { readFileSync } from 'node:fs';
import { parseHostConfig } from ${JSON.stringify(join(import.meta.dirname, 'parse.ts'))};
for (const file of process.argv.slice(2)) {
  const r = parseHostConfig(readFileSync(file, 'utf8'));
  console.log(r.findings[0]?.code ?? 'none');
}
`,
    );
    const documents = {
      'flow-10mb.yaml': flow(5 * 1024 * 1024),
      'flow-3mb.yaml': flow(1_500_000),
      'flow-19k.yaml': flow(MAX_YAML_NODES - 1000),
      'deep.yaml': `a: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`,
    };
    for (const [name, text] of Object.entries(documents)) await writeFile(join(dir, name), text);
    const result = spawnSync(
      process.execPath,
      [
        '--max-old-space-size=160',
        '--conditions=@trident/source',
        script,
        ...Object.keys(documents).map((n) => join(dir, n)),
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual([
      'HC_YAML_TOO_LARGE',
      'HC_YAML_TOO_LARGE',
      'HC_INVALID_TYPE',
      'HC_YAML_TOO_DEEP',
    ]);
  });
});
