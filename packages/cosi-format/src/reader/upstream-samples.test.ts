import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBufferSource } from '../byte-source.ts';
import { validateMetadataDocument } from '../metadata/standalone.ts';
import { buildMkcosiStyleCosi } from '../test-support/mkcosi-style.ts';
import type { ValidationProfile } from '../validation/findings.ts';
import { openCosi } from './open-cosi.ts';

/**
 * Upstream Trident's COSI metadata samples (in the same shapes, our own values) and a COSI laid out
 * the way upstream's mkcosi writes it. The `trident` profile follows Trident's code: where upstream's
 * JSON schema and its code disagree, the code decides (cosi-format README, "Upstream's metadata
 * samples").
 */

const dir = join(import.meta.dirname, '..', 'fixtures', 'metadata-samples');
const read = (name: string) => readFileSync(join(dir, name));

/** [file, trident error code or null for valid, spec error code or null]. */
const samples: Array<[string, string | null, string | null]> = [
  ['valid/grub-simple.json', null, null],
  ['valid/verity-uki-systemd-boot.json', null, null],
  // The schema sample's own shape: its verity image has no partition region, which Trident's
  // validate() refuses (V1_2ImageFileHasNoCorrespondingPartition).
  [
    'invalid/verity-image-without-region.json',
    'COSI_IMAGE_WITHOUT_PARTITION',
    'COSI_IMAGE_WITHOUT_PARTITION',
  ],
  [
    'invalid/gpt-missing-primary-region.json',
    'COSI_FIRST_REGION_NOT_PRIMARY_GPT',
    'COSI_FIRST_REGION_NOT_PRIMARY_GPT',
  ],
  // Trident parses it, then refuses the LBA size when it reads the GPT region.
  ['invalid/invalid-lba-size.json', 'COSI_LBA_SIZE', 'COSI_LBA_SIZE'],
  ['invalid/invalid-part-type-uuid.json', 'COSI_PART_TYPE_INVALID', 'COSI_PART_TYPE_INVALID'],
  // Trident has no prefix rule; the path then matches no region.
  ['invalid/missing-image-path-prefix.json', 'COSI_IMAGE_WITHOUT_PARTITION', 'COSI_IMAGE_PATH_PREFIX'],
  ['invalid/missing-os-arch.json', 'COSI_FIELD_REQUIRED', 'COSI_FIELD_REQUIRED'],
  ['invalid/missing-os-packages.json', 'COSI_OS_PACKAGES_REQUIRED', 'COSI_OS_PACKAGES_REQUIRED'],
  ['invalid/os-package-missing-arch.json', 'COSI_PACKAGE_ARCH_REQUIRED', 'COSI_PACKAGE_ARCH_REQUIRED'],
  [
    'invalid/partition-region-missing-number.json',
    'COSI_REGION_NUMBER_MISSING',
    'COSI_REGION_NUMBER_MISSING',
  ],
  ['invalid/short-sha384.json', 'COSI_SHA384_FORMAT', 'COSI_SHA384_FORMAT'],
  [
    'invalid/systemd-boot-missing-config.json',
    'COSI_SYSTEMD_BOOT_MISSING_ENTRIES',
    'COSI_SYSTEMD_BOOT_EMPTY_ENTRIES',
  ],
  // Trident only warns about an unknown bootloader; a 1.1 document is read with the 1.1 rules.
  ['invalid/unknown-bootloader-type.json', null, 'COSI_BOOTLOADER_UNKNOWN'],
  ['invalid/wrong-version.json', null, null],
];

describe("upstream's COSI metadata samples", () => {
  for (const [file, tridentCode, specCode] of samples) {
    for (const [profile, code] of [
      ['trident', tridentCode],
      ['spec', specCode],
    ] as Array<[ValidationProfile, string | null]>) {
      it(`${file} (${profile}): ${code ?? 'valid'}`, () => {
        const report = validateMetadataDocument(read(file), profile);
        if (code === null) {
          expect(report.errors).toEqual([]);
          expect(report.valid).toBe(true);
        } else {
          expect(report.valid).toBe(false);
          expect(report.errors.map((e) => e.code)).toContain(code);
        }
      });
    }
  }

  it('the unknown bootloader is a warning for the trident profile', () => {
    const report = validateMetadataDocument(read('invalid/unknown-bootloader-type.json'), 'trident');
    expect(report.warnings.map((w) => w.code)).toContain('COSI_BOOTLOADER_UNKNOWN');
  });
});

describe('a COSI written the way mkcosi writes it', () => {
  for (const [name, options] of [
    ['plain', {}],
    [
      'with insert-template and add-vpc (VHD footer after the archive)',
      { vhdFooter: true, template: 'storage: {}\n' },
    ],
  ] as const) {
    it(`${name}: valid under both profiles, every image verified, GPT usable`, async () => {
      const built = buildMkcosiStyleCosi(options);
      const reader = await openCosi(createBufferSource(built.bytes, 'mkcosi.cosi'), {
        expectedSha384: 'ignored',
      });
      expect(Buffer.from(reader.metadataBytes).toString('utf8')).toBe(built.metadataText);
      expect(new TextDecoder().decode(reader.metadataBytes)).toContain('\\u0026');
      for (const profile of ['trident', 'spec'] as const) {
        const report = await reader.validate(profile);
        expect(report.errors, profile).toEqual([]);
      }
      const verified = await reader.verifyImages();
      expect(verified.map((v) => [v.file.path, v.ok])).toEqual([
        ['images/partition-2.raw.zst', true],
        ['images/partition-3.raw.zst', true],
        ['images/primary-gpt.raw.zst', true],
        ['images/partition-1.raw.zst', true],
      ]);
      const gpt = await reader.gpt();
      expect(gpt.partitions.map((p) => p.number)).toEqual([1, 2, 3]);
      expect(reader.index.end).toBe('double-zero');
      expect(reader.metadata.osRelease).toContain('&release=4.1');
      await reader.close();
    });
  }
});
