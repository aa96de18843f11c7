import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CODES, type HostConfigCode } from './codes.ts';
import { migrateHostConfig } from './migrate/migrate.ts';
import { parseHostConfig } from './parse.ts';

const dir = (name: string) => join(import.meta.dirname, 'fixtures', name);
const files = (name: string) =>
  readdirSync(dir(name))
    .filter((f) => f.endsWith('.yaml'))
    .sort();
const read = (name: string, file: string) => readFileSync(join(dir(name), file), 'utf8');

describe('valid documents shaped like the upstream samples', () => {
  const samples = files('valid');
  it('covers the eight sample shapes', () => {
    expect(samples.map((f) => f.replace('.yaml', '')).sort()).toEqual(
      ['advanced', 'base', 'basic', 'encryption', 'raid', 'raid-mirrored', 'simple', 'verity'].sort(),
    );
  });
  it.each(samples)('%s parses and validates without errors', (file) => {
    const result = parseHostConfig(read('valid', file), { requireImage: true });
    expect(result.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.config?.image?.url).toMatch(/^(https?|oci):\/\//);
  });
});

describe('one failing fixture per rule', () => {
  const cases = files('invalid').map((file) => {
    const text = read('invalid', file);
    const m = /^# expect: (\S+) at (\S+) line (\d+)/.exec(text);
    if (m === null) throw new Error(`${file}: missing "# expect: CODE at path line N" header`);
    const options = /^# options: (.*)$/m.exec(text);
    return {
      file,
      text,
      code: m[1] as HostConfigCode,
      path: m[2] === '<root>' ? '' : (m[2] ?? ''),
      line: Number(m[3]),
      options: options === null ? {} : JSON.parse(options[1] ?? '{}'),
    };
  });
  it.each(cases)('$file reports $code at $path line $line', ({ text, code, path, line, options }) => {
    const result = parseHostConfig(text, options);
    const hit = result.findings.find((f) => f.code === code && f.path === path);
    expect(hit, JSON.stringify(result.findings, null, 2)).toBeDefined();
    expect(hit?.line).toBe(line);
    expect(hit?.column).toBeGreaterThan(0);
    expect(hit?.severity).toBe(CODES[code].severity);
    expect(hit?.message.length).toBeGreaterThan(20);
    if (CODES[code].severity === 'error') expect(result.ok).toBe(false);
  });
});

describe('migration fixtures', () => {
  it.each(files('migrate'))('%s migrates with the expected changes and validates cleanly', (file) => {
    const text = read('migrate', file);
    const expected = (/^# changes: (.*)$/m.exec(text)?.[1] ?? '').split(' ').sort();
    const era = /^# era: (\S+)/m.exec(text)?.[1];
    const result = migrateHostConfig(text);
    expect(result.ok).toBe(true);
    expect(result.era).toBe(era);
    expect([...new Set(result.changes.map((c) => c.code))].sort()).toEqual(expected);
    expect(result.changes.every((c) => c.line > 0 || c.code === 'HC_MIGRATE_ALREADY_CURRENT')).toBe(true);
    expect(result.validation?.findings.filter((f) => f.severity === 'error')).toEqual([]);
    // Comments survive the rewrite.
    expect(result.text).toContain(text.split('\n')[0]);
    // Migrating twice changes nothing more.
    expect(migrateHostConfig(result.text ?? '').changes.map((c) => c.code)).toEqual([
      'HC_MIGRATE_ALREADY_CURRENT',
    ]);
  });

  it.each(files('migrate-refused'))('%s is refused with guidance', (file) => {
    const text = read('migrate-refused', file);
    const m = /^# refused: (\S+) (\S+) line (\d+)/.exec(text);
    const result = migrateHostConfig(text);
    expect(result.ok).toBe(false);
    expect(result.text).toBeUndefined();
    const hit = result.changes.find((c) => c.code === m?.[1] && c.path === m?.[2]);
    expect(hit, JSON.stringify(result.changes, null, 2)).toBeDefined();
    expect(hit?.line).toBe(Number(m?.[3]));
    expect(hit?.severity).toBe('error');
  });
});
