import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CODES } from './codes.ts';
import { checkImageCompatibility, type ImageFacts } from './cosi-checks.ts';
import { isHostConfigError } from './errors.ts';
import { hostConfigJsonSchema } from './json-schema.ts';
import { migrateHostConfigOrThrow } from './migrate/migrate.ts';
import { parseHostConfig, parseHostConfigOrThrow, validateHostConfig } from './parse.ts';
import { HostConfigurationSchema } from './schema/root.ts';
import { validateSemantics } from './validate.ts';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');

describe('serde_yaml scalar rules', () => {
  const part = (size: string) =>
    `storage:\n  disks:\n    - id: d\n      device: /dev/sda\n      partitionTableType: gpt\n      partitions:\n        - id: p\n          size: ${size}\n`;
  it.each([
    ['" 300 K "', 307200],
    ['4096', 4096],
    ['1G', 2 ** 30],
    ['2T', 2 ** 41],
    ['grow', 'grow'],
  ])('size %s', (text, bytes) => {
    const r = parseHostConfig(part(text), { semantic: false });
    expect(r.config?.storage.disks[0]?.partitions[0]?.size).toBe(bytes);
  });
  it.each(['1.0', '1.0K', '1 0K', '8k', '1KiB', '-4096', 'Grow'])('rejects size %s', (text) => {
    expect(parseHostConfig(part(text)).findings.map((f) => f.code)).toContain('HC_INVALID_SIZE');
  });
  it('keeps the literal text of string fields and only accepts true/false spellings', () => {
    const r = parseHostConfig(
      'os:\n  hostname: 0755\n  additionalFiles:\n    - {destination: /x, content: y, permissions: 0755}\ntrident:\n  disable: TRUE\n',
      { semantic: false },
    );
    expect(r.config?.os.hostname).toBe('0755');
    expect(r.config?.os.additionalFiles[0]?.permissions).toBe('0755');
    expect(r.config?.trident.disable).toBe(true);
    expect(parseHostConfig('trident:\n  disable: "true"\n').findings[0]?.code).toBe('HC_INVALID_TYPE');
  });
  it('treats an empty value as an empty list and lowercases hashes', () => {
    const r = parseHostConfig(
      `image: {url: 'https://x.test/a', sha384: ${'AB'.repeat(48)}}\nstorage:\n  disks:\n`,
      { semantic: false },
    );
    expect(r.config?.storage.disks).toEqual([]);
    expect(r.config?.image?.sha384).toBe('ab'.repeat(48));
  });
  it('reports independent errors together, ordered by line', () => {
    const r = parseHostConfig(
      'storage:\n  disks:\n    - id: a\n      device: /dev/sda\n      partitionTableType: mbr\n      partitions: []\n  swapp: []\nos:\n  hostnme: x\n',
    );
    expect(r.findings.map((f) => [f.code, f.path, f.line])).toMatchInlineSnapshot(`
      [
        [
          "HC_UNKNOWN_VARIANT",
          "storage.disks[0].partitionTableType",
          5,
        ],
        [
          "HC_UNKNOWN_FIELD",
          "storage.swapp",
          7,
        ],
        [
          "HC_UNKNOWN_FIELD",
          "os.hostnme",
          9,
        ],
      ]
    `);
    expect(r.findings[2]?.message).toContain('Did you mean `hostname`?');
  });
});

describe('defaults', () => {
  it('materialises the defaults of the reference', () => {
    const c = HostConfigurationSchema.parse({
      storage: {
        filesystems: [
          { deviceId: 'a', source: 'new', mountPoint: '/a' },
          { deviceId: 'b', source: 'adopted' },
        ],
        verity: [{ id: 'v', name: 'root', dataDeviceId: 'd', hashDeviceId: 'h' }],
      },
      os: { users: [{ name: 'u' }], modules: [{ name: 'm' }] },
      health: { checks: [{ name: 'c', systemdServices: ['s'] }] },
    });
    expect(c.storage.filesystems).toMatchInlineSnapshot(`
      [
        {
          "deviceId": "a",
          "mountPoint": {
            "options": "defaults",
            "path": "/a",
          },
          "overrideEspMount": "use-default",
          "source": "new",
          "type": "ext4",
        },
        {
          "deviceId": "b",
          "overrideEspMount": "use-default",
          "source": "adopted",
          "type": "auto",
        },
      ]
    `);
    expect(c.storage.verity[0]?.corruptionOption).toBe('io-error');
    expect(c.trident).toEqual({ disable: false, datastorePath: '/var/lib/trident/datastore.sqlite' });
    expect(c.os.uefiFallback).toBe('conservative');
    expect(c.os.users[0]).toMatchObject({ password: { type: 'locked' }, sshMode: 'block' });
    expect(c.os.modules[0]?.loadMode).toBe('inherit');
    expect(c.health.checks[0]).toMatchObject({ timeoutSeconds: 30 });
  });
});

describe('thrown errors and programmatic input', () => {
  it('parseHostConfigOrThrow wraps the findings in HC_INVALID_DOCUMENT', () => {
    try {
      parseHostConfigOrThrow('storage: []\n', { file: 'hc.yaml' });
      expect.unreachable();
    } catch (error) {
      expect(isHostConfigError(error, 'HC_INVALID_DOCUMENT')).toBe(true);
      if (isHostConfigError(error)) expect(error.findings[0]?.code).toBe('HC_INVALID_TYPE');
    }
    expect(parseHostConfigOrThrow(fixture('valid/basic.yaml')).config.storage.disks).toHaveLength(1);
  });
  it('rejects a non-string argument with HC_INVALID_ARGUMENT', () => {
    expect(() => parseHostConfig(42 as unknown as string)).toThrowError(
      expect.objectContaining({ code: 'HC_INVALID_ARGUMENT' }),
    );
  });
  it('validates JSON values without positions', () => {
    const r = validateHostConfig({ storage: { disks: 'x' } });
    expect(r.findings[0]).toMatchObject({ code: 'HC_INVALID_TYPE', path: 'storage.disks', line: 0 });
  });
  it('reports an ESP without mount point on programmatic configurations', () => {
    const config = HostConfigurationSchema.parse({});
    config.storage.filesystems.push({ deviceId: 'x', source: 'image', overrideEspMount: 'override' });
    expect(validateSemantics(config).map((f) => f.code)).toContain('HC_ESP_WITHOUT_MOUNT');
  });
  it('migrateHostConfigOrThrow refuses partition images', () => {
    expect(() => migrateHostConfigOrThrow(fixture('migrate-refused/partition-image.yaml'))).toThrowError(
      expect.objectContaining({ code: 'HC_INVALID_DOCUMENT' }),
    );
  });
});

describe('COSI cross-checks', () => {
  const config = parseHostConfigOrThrow(fixture('valid/verity.yaml')).config;
  const fs = (mountPoint: string, extra: Partial<ImageFacts['filesystems'][number]> = {}) => ({
    mountPoint,
    fsType: 'ext4',
    partType: 'linux-generic',
    uncompressedSize: 2 ** 20,
    ...extra,
  });
  const good: ImageFacts = {
    filesystems: [
      fs('/boot/efi', { partType: 'esp', fsType: 'vfat' }),
      fs('/boot', { partType: 'xbootldr' }),
      fs('/', { partType: 'root', verity: { hashUncompressedSize: 2 ** 20 } }),
      fs('/var', { partType: 'var' }),
    ],
  };
  it('accepts a matching image', () => {
    expect(checkImageCompatibility(config, good)).toEqual([]);
  });
  it('reports every mismatch with its code', () => {
    const bad: ImageFacts = {
      filesystems: [
        fs('/efi', { partType: 'esp', fsType: 'vfat', verity: { hashUncompressedSize: 1 } }),
        fs('/boot', { fsType: 'xfs', fsUuid: 'u1' }),
        fs('/', { partType: 'root', uncompressedSize: 5 * 2 ** 30, fsUuid: 'u1' }),
        fs('/opt'),
      ],
    };
    const codes = checkImageCompatibility(config, bad).map((f) => f.code);
    expect(new Set(codes)).toEqual(
      new Set([
        'HC_COSI_UNUSED_FILESYSTEM',
        'HC_COSI_MISSING_FILESYSTEM',
        'HC_COSI_DUPLICATE_FS_UUID',
        'HC_COSI_VERITY_MISMATCH',
        'HC_COSI_ESP_MOUNT_MISMATCH',
        'HC_COSI_ESP_VERITY',
        'HC_COSI_BOOT_FS_TYPE',
        'HC_COSI_SIZE_EXCEEDS_DEVICE',
      ]),
    );
    expect(checkImageCompatibility(config, { filesystems: [] }).map((f) => f.code)).toContain(
      'HC_COSI_ESP_COUNT',
    );
  });
  it('turns failures into warnings under relaxedCosiValidation', () => {
    const relaxed = { ...config, internalParams: { relaxedCosiValidation: true } };
    expect(checkImageCompatibility(relaxed, { filesystems: [] }).every((f) => f.severity === 'warning')).toBe(
      true,
    );
  });
});

describe('JSON Schema and documentation', () => {
  it('exports a closed draft 2020-12 schema', () => {
    const schema = hostConfigJsonSchema() as {
      $schema: string;
      additionalProperties: boolean;
      properties: Record<string, unknown>;
    };
    expect(schema.$schema).toContain('2020-12');
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties).sort()).toEqual([
      'health',
      'image',
      'internalParams',
      'managementOs',
      'os',
      'scripts',
      'storage',
      'trident',
    ]);
  });
  it('documents every code in the README', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    for (const code of Object.keys(CODES)) expect(readme, code).toContain(`\`${code}\``);
  });
});
