import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { isHostConfigCode } from './codes.ts';
import { isHostConfigError } from './errors.ts';
import { migrateHostConfig } from './migrate/migrate.ts';
import { parseHostConfig } from './parse.ts';

// FUZZ_RUNS raises or lowers the budget; CI runs the default 10,000 cases per property.
const runs = Number(process.env.FUZZ_RUNS ?? 10_000);

/** Parsing never throws, and whatever it reports is coded and positioned. */
function assertCoded(text: string): void {
  let result: ReturnType<typeof parseHostConfig>;
  try {
    result = parseHostConfig(text);
  } catch (error) {
    expect(isHostConfigError(error)).toBe(true);
    return;
  }
  for (const f of result.findings) {
    expect(isHostConfigCode(f.code)).toBe(true);
    expect(f.line).toBeGreaterThanOrEqual(0);
    expect(typeof f.message).toBe('string');
  }
  expect(result.ok).toBe(!result.findings.some((f) => f.severity === 'error'));
}

const keys = fc.constantFrom(
  'image',
  'storage',
  'disks',
  'partitions',
  'filesystems',
  'id',
  'size',
  'type',
  'source',
  'mountPoint',
  'deviceId',
  'verity',
  'swap',
  'raid',
  'software',
  'devices',
  'os',
  'users',
  'name',
  'url',
  'sha384',
  'path',
  'options',
  '__proto__',
  'constructor',
);
const scalars = fc.oneof(
  fc.constantFrom(
    'grow',
    '8G',
    '0755',
    'yes',
    '~',
    'null',
    'new',
    'image',
    '/',
    '/boot/efi',
    'esp',
    'ignored',
    '',
  ),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string(),
);
const hcLike = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'xsmall', withCrossShrink: true }, scalars, tie('list'), tie('map')),
  list: fc.array(tie('value'), { maxLength: 3 }),
  map: fc.dictionary(keys, tie('value'), { maxKeys: 4 }),
})).map;

describe('fuzzing the parser', () => {
  it('arbitrary text never crashes', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), assertCoded), { numRuns: runs });
  });

  it('arbitrary Host-Configuration-shaped YAML never crashes', () => {
    fc.assert(
      fc.property(hcLike, (doc) => assertCoded(stringify(doc))),
      { numRuns: runs },
    );
  });

  it('YAML-ish fragments (indentation, anchors, flow) never crash parse or migrate', () => {
    const piece = fc.constantFrom(
      'storage:',
      '  disks:',
      '    - id: a',
      '      size: 8G',
      '&a [1, 2]',
      '*a',
      '{',
      '}',
      '- ',
      ': ',
      '? ',
      '\t',
      '---',
      '"x',
      "'y'",
      '#c',
      'osImage: {type: cosi}',
      '  filesystems: [{source: {type: create}}]',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
        const text = parts.join('\n');
        assertCoded(text);
        const migrated = migrateHostConfig(text);
        for (const c of migrated.changes) expect(isHostConfigCode(c.code)).toBe(true);
      }),
      { numRuns: Math.max(1000, Math.floor(runs / 5)) },
    );
  });
});
