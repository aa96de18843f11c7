import { describe, expect, it } from 'vitest';
import { createBufferSource } from '../byte-source.ts';
import { openCosi } from '../reader/open-cosi.ts';
import { buildFixtureCosi, type FixtureOptions } from '../test-support/fixture-cosi.ts';

const gptWithFlippedEntry = (): Uint8Array => {
  const region = Uint8Array.from(buildFixtureCosi().gptRegion);
  region[1024 + 60]! ^= 0xff;
  return region;
};

import type { ValidationProfile } from './findings.ts';

async function report(options: FixtureOptions, profile: ValidationProfile) {
  const fixture = buildFixtureCosi(options);
  const reader = await openCosi(createBufferSource(fixture.bytes, 'fixture.cosi'));
  return reader.validate(profile);
}

const sha = (c: string) => c.repeat(96);

interface RuleCase {
  name: string;
  options: FixtureOptions;
  /** Expected error per profile: [code, path], or null for "valid under this profile". */
  trident: [string, string] | null;
  spec: [string, string] | null;
  /** Warnings that must appear (profile: code). */
  warnings?: Partial<Record<ValidationProfile, string>>;
}

const cases: RuleCase[] = [
  { name: 'the fixture itself', options: {}, trident: null, spec: null },
  {
    name: 'duplicate mount point (Trident only)',
    options: { mutate: (m) => (m.images[1].mountPoint = '/boot/efi/') },
    trident: ['COSI_DUPLICATE_MOUNT_POINT', 'images[1].mountPoint'],
    spec: null,
  },
  {
    name: 'duplicate fsUuid (spec only)',
    options: { mutate: (m) => (m.images[1].fsUuid = m.images[0].fsUuid) },
    trident: null,
    spec: ['COSI_DUPLICATE_FS_UUID', 'images[1].fsUuid'],
  },
  {
    name: 'unknown osArch',
    options: { mutate: (m) => (m.osArch = 'riscv64') },
    trident: ['COSI_OS_ARCH_UNKNOWN', 'osArch'],
    spec: ['COSI_OS_ARCH_UNKNOWN', 'osArch'],
  },
  {
    name: "fsType outside Trident's twelve",
    options: { mutate: (m) => (m.images[1].fsType = 'erofs') },
    trident: ['COSI_FS_TYPE_UNKNOWN', 'images[1].fsType'],
    spec: null,
  },
  {
    name: 'DPS name as partType (Trident accepts, the schema does not)',
    options: { mutate: (m) => (m.images[1].partType = 'root') },
    trident: null,
    spec: ['COSI_PART_TYPE_INVALID', 'images[1].partType'],
  },
  {
    name: 'partType that is neither UUID nor DPS name',
    options: { mutate: (m) => (m.images[1].partType = 'not-a-uuid') },
    trident: ['COSI_PART_TYPE_INVALID', 'images[1].partType'],
    spec: ['COSI_PART_TYPE_INVALID', 'images[1].partType'],
  },
  {
    name: 'short sha384',
    options: { mutate: (m) => (m.images[0].image.sha384 = 'deadbeef') },
    trident: ['COSI_SHA384_FORMAT', 'images[0].image.sha384'],
    spec: ['COSI_SHA384_FORMAT', 'images[0].image.sha384'],
  },
  {
    name: 'package arch Trident cannot parse',
    options: { mutate: (m) => (m.osPackages[0].arch = 'i686') },
    trident: ['COSI_PACKAGE_ARCH_UNKNOWN', 'osPackages[0].arch'],
    spec: null,
  },
  {
    name: 'package without arch',
    options: { mutate: (m) => delete m.osPackages[0].arch },
    trident: ['COSI_PACKAGE_ARCH_REQUIRED', 'osPackages[0].arch'],
    spec: ['COSI_PACKAGE_ARCH_REQUIRED', 'osPackages[0].arch'],
  },
  {
    name: 'package without release',
    options: { mutate: (m) => delete m.osPackages[0].release },
    trident: ['COSI_PACKAGE_RELEASE_REQUIRED', 'osPackages[0].release'],
    spec: ['COSI_PACKAGE_RELEASE_REQUIRED', 'osPackages[0].release'],
  },
  {
    name: 'missing osPackages',
    options: { mutate: (m) => delete m.osPackages },
    trident: ['COSI_OS_PACKAGES_REQUIRED', 'osPackages'],
    spec: ['COSI_OS_PACKAGES_REQUIRED', 'osPackages'],
  },
  {
    name: 'missing osPackages on Azure Container Linux (Trident exempts it)',
    options: {
      mutate: (m) => {
        delete m.osPackages;
        m.osRelease += 'VARIANT_ID=azurecontainerlinux\n';
      },
    },
    trident: null,
    spec: ['COSI_OS_PACKAGES_REQUIRED', 'osPackages'],
  },
  {
    name: 'invalid id',
    options: { mutate: (m) => (m.id = 'xyz') },
    trident: ['COSI_ID_INVALID', 'id'],
    spec: ['COSI_ID_INVALID', 'id'],
  },
  {
    name: 'missing bootloader',
    options: { mutate: (m) => delete m.bootloader },
    trident: ['COSI_BOOTLOADER_REQUIRED', 'bootloader'],
    spec: ['COSI_BOOTLOADER_REQUIRED', 'bootloader'],
  },
  {
    name: 'unknown bootloader type (Trident only warns)',
    options: { mutate: (m) => (m.bootloader = { type: 'lilo' }) },
    trident: null,
    spec: ['COSI_BOOTLOADER_UNKNOWN', 'bootloader.type'],
    warnings: { trident: 'COSI_BOOTLOADER_UNKNOWN' },
  },
  {
    name: 'grub with systemd-boot entries',
    options: { mutate: (m) => (m.bootloader.systemdBoot = { entries: [] }) },
    trident: ['COSI_GRUB_WITH_SYSTEMD_BOOT', 'bootloader.systemdBoot'],
    spec: ['COSI_GRUB_WITH_SYSTEMD_BOOT', 'bootloader.systemdBoot'],
  },
  {
    name: 'systemd-boot without entries object',
    options: { mutate: (m) => (m.bootloader = { type: 'systemd-boot' }) },
    trident: ['COSI_SYSTEMD_BOOT_MISSING_ENTRIES', 'bootloader.systemdBoot'],
    spec: ['COSI_SYSTEMD_BOOT_EMPTY_ENTRIES', 'bootloader.systemdBoot.entries'],
  },
  {
    name: 'systemd-boot with an empty entry list',
    options: { mutate: (m) => (m.bootloader = { type: 'systemd-boot', systemdBoot: { entries: [] } }) },
    trident: ['COSI_SYSTEMD_BOOT_EMPTY_ENTRIES', 'bootloader.systemdBoot.entries'],
    spec: ['COSI_SYSTEMD_BOOT_EMPTY_ENTRIES', 'bootloader.systemdBoot.entries'],
  },
  {
    name: 'systemd-boot whose first entry is not a standalone UKI (warning)',
    options: {
      mutate: (m) =>
        (m.bootloader = {
          type: 'systemd-boot',
          systemdBoot: { entries: [{ type: 'config', path: 'a', cmdline: '', kernel: '6.6' }] },
        }),
    },
    trident: null,
    spec: null,
    warnings: { trident: 'COSI_SYSTEMD_BOOT_NOT_UKI' },
  },
  {
    name: 'systemd-boot entry of unknown type',
    options: {
      mutate: (m) =>
        (m.bootloader = {
          type: 'systemd-boot',
          systemdBoot: { entries: [{ type: 'bls', path: 'a', cmdline: '', kernel: '6.6' }] },
        }),
    },
    trident: null,
    spec: ['COSI_SYSTEMD_BOOT_ENTRY_TYPE', 'bootloader.systemdBoot.entries[0].type'],
  },
  {
    name: 'missing compression',
    options: { mutate: (m) => delete m.compression },
    trident: ['COSI_COMPRESSION_REQUIRED', 'compression'],
    spec: ['COSI_COMPRESSION_REQUIRED', 'compression'],
  },
  {
    name: 'maxWindowLog outside zstd range',
    options: { mutate: (m) => (m.compression.maxWindowLog = 40) },
    trident: ['COSI_MAX_WINDOW_LOG_RANGE', 'compression.maxWindowLog'],
    spec: ['COSI_MAX_WINDOW_LOG_RANGE', 'compression.maxWindowLog'],
  },
  {
    name: 'missing disk',
    options: { mutate: (m) => delete m.disk },
    trident: ['COSI_DISK_REQUIRED', 'disk'],
    spec: ['COSI_DISK_REQUIRED', 'disk'],
  },
  {
    name: 'disk type not gpt',
    options: { mutate: (m) => (m.disk.type = 'mbr') },
    trident: ['COSI_DISK_NOT_GPT', 'disk.type'],
    spec: ['COSI_DISK_NOT_GPT', 'disk.type'],
  },
  {
    name: 'lbaSize 1024',
    options: { mutate: (m) => (m.disk.lbaSize = 1024) },
    trident: ['COSI_LBA_SIZE', 'disk.lbaSize'],
    spec: ['COSI_LBA_SIZE', 'disk.lbaSize'],
  },
  {
    name: 'disk size not a multiple of lbaSize',
    options: { mutate: (m) => (m.disk.size += 100) },
    trident: null,
    spec: ['COSI_DISK_SIZE_ALIGNMENT', 'disk.size'],
  },
  {
    name: 'no regions',
    options: { mutate: (m) => (m.disk.gptRegions = []) },
    trident: ['COSI_REGIONS_MISSING', 'disk.gptRegions'],
    spec: ['COSI_REGIONS_MISSING', 'disk.gptRegions'],
  },
  {
    name: 'primary GPT region removed',
    options: { mutate: (m) => m.disk.gptRegions.shift() },
    trident: ['COSI_FIRST_REGION_NOT_PRIMARY_GPT', 'disk.gptRegions[0].type'],
    spec: ['COSI_FIRST_REGION_NOT_PRIMARY_GPT', 'disk.gptRegions[0].type'],
  },
  {
    name: 'second primary-gpt region',
    options: { mutate: (m) => m.disk.gptRegions.push({ ...m.disk.gptRegions[0] }) },
    trident: ['COSI_MULTIPLE_PRIMARY_GPT', 'disk.gptRegions[3].type'],
    spec: ['COSI_MULTIPLE_PRIMARY_GPT', 'disk.gptRegions[3].type'],
  },
  {
    name: 'partition region without number',
    options: { mutate: (m) => delete m.disk.gptRegions[1].number },
    trident: ['COSI_REGION_NUMBER_MISSING', 'disk.gptRegions[1].number'],
    spec: ['COSI_REGION_NUMBER_MISSING', 'disk.gptRegions[1].number'],
  },
  {
    name: 'partition number zero',
    options: { mutate: (m) => (m.disk.gptRegions[1].number = 0) },
    trident: ['COSI_PARTITION_NUMBER_ZERO', 'disk.gptRegions[1].number'],
    spec: ['COSI_PARTITION_NUMBER_ZERO', 'disk.gptRegions[1].number'],
  },
  {
    name: 'duplicate partition number',
    options: { mutate: (m) => (m.disk.gptRegions[2].number = 1) },
    trident: ['COSI_DUPLICATE_PARTITION_NUMBER', 'disk.gptRegions[2].number'],
    spec: ['COSI_DUPLICATE_PARTITION_NUMBER', 'disk.gptRegions[2].number'],
  },
  {
    name: 'unknown region type (Trident skips it)',
    options: {
      mutate: (m) => m.disk.gptRegions.push({ image: m.disk.gptRegions[0].image, type: 'backup-gpt' }),
    },
    trident: null,
    spec: ['COSI_REGION_TYPE_UNKNOWN', 'disk.gptRegions[3].type'],
    warnings: { trident: 'COSI_REGION_TYPE_UNKNOWN' },
  },
  {
    name: 'filesystem image differs from its region',
    options: { mutate: (m) => (m.images[1].image.uncompressedSize += 1) },
    trident: ['COSI_IMAGE_FILE_MISMATCH', 'disk.gptRegions[2].image.uncompressedSize'],
    spec: ['COSI_IMAGE_FILE_MISMATCH', 'images[1].image.uncompressedSize'],
  },
  {
    name: 'image path without images/ prefix and without a region',
    options: {
      mutate: (m) => (m.images[0].image.path = 'esp.raw.zst'),
      members: (members) => [...members, { name: 'esp.raw.zst', data: 'x' }],
    },
    trident: ['COSI_IMAGE_WITHOUT_PARTITION', 'images[0].image'],
    spec: ['COSI_IMAGE_PATH_PREFIX', 'images[0].image.path'],
  },
  {
    name: 'verity image without its own region',
    options: {
      mutate: (m) =>
        (m.images[1].verity = {
          image: { ...m.images[0].image, path: 'images/root-hash.raw.zst' },
          roothash: 'ab'.repeat(32),
        }),
      members: (members) => [...members, { name: 'images/root-hash.raw.zst', data: 'h' }],
    },
    trident: ['COSI_IMAGE_WITHOUT_PARTITION', 'images[1].verity.image'],
    spec: ['COSI_IMAGE_WITHOUT_PARTITION', 'images[1].verity.image'],
  },
  {
    name: 'region for a partition the GPT does not have',
    options: { mutate: (m) => (m.disk.gptRegions[2].number = 7) },
    trident: ['COSI_REGION_PARTITION_NOT_IN_GPT', 'disk.gptRegions[2].number'],
    spec: ['COSI_REGION_PARTITION_NOT_IN_GPT', 'disk.gptRegions[2].number'],
  },
  {
    name: 'GPT partition without a region',
    options: { mutate: (m) => m.disk.gptRegions.pop() && m.images.pop() },
    trident: ['COSI_REGION_COUNT_MISMATCH', 'disk.gptRegions'],
    spec: null,
  },
  {
    name: 'image larger than its partition',
    options: {
      partitions: [
        {
          typeGuid: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
          partitionGuid: 'aaaaaaaa-0000-4000-8000-000000000001',
          firstLba: 2048,
          lastLba: 2048 + 99,
          name: 'esp',
        },
        {
          typeGuid: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709',
          partitionGuid: 'aaaaaaaa-0000-4000-8000-000000000002',
          firstLba: 18432,
          lastLba: 18432 + 65535,
          name: 'root',
        },
      ],
    },
    trident: null,
    spec: ['COSI_UNCOMPRESSED_EXCEEDS_PARTITION', 'disk.gptRegions[1].image.uncompressedSize'],
  },
  {
    name: 'regions in partition-number order but not LBA order (Image Customizer) is a warning',
    options: {
      partitions: [
        {
          typeGuid: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
          partitionGuid: 'aaaaaaaa-0000-4000-8000-000000000001',
          firstLba: 90000,
          lastLba: 90000 + 16383,
          name: 'esp',
        },
        {
          typeGuid: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709',
          partitionGuid: 'aaaaaaaa-0000-4000-8000-000000000002',
          firstLba: 2048,
          lastLba: 2048 + 65535,
          name: 'root',
        },
      ],
    },
    trident: null,
    spec: null,
    warnings: { trident: 'COSI_REGION_ORDER', spec: 'COSI_REGION_ORDER' },
  },
  {
    name: 'GPT image hash does not match',
    options: { mutate: (m) => (m.disk.gptRegions[0].image.sha384 = sha('a')) },
    trident: ['COSI_GPT_HASH_MISMATCH', 'disk.gptRegions[0].image'],
    spec: ['COSI_GPT_HASH_MISMATCH', 'disk.gptRegions[0].image'],
  },
  {
    name: 'GPT image size does not match',
    options: { mutate: (m) => (m.disk.gptRegions[0].image.uncompressedSize -= 512) },
    trident: ['COSI_GPT_SIZE_MISMATCH', 'disk.gptRegions[0].image'],
    spec: ['COSI_GPT_SIZE_MISMATCH', 'disk.gptRegions[0].image'],
  },
  {
    name: 'compressedSize differs from the member size (spec error, Trident warning)',
    options: {
      mutate: (m) => {
        m.images[0].image.compressedSize += 1;
        m.disk.gptRegions[1].image.compressedSize += 1;
      },
    },
    trident: null,
    spec: ['COSI_COMPRESSED_SIZE_MISMATCH', 'images[0].image.compressedSize'],
    warnings: { trident: 'COSI_COMPRESSED_SIZE_MISMATCH' },
  },
  {
    name: 'image member missing from the archive',
    options: { members: (members) => members.filter((m) => m.name !== 'images/root.raw.zst') },
    trident: ['COSI_IMAGE_MEMBER_MISSING', 'images[1].image.path'],
    spec: ['COSI_IMAGE_MEMBER_MISSING', 'images[1].image.path'],
  },
  {
    name: 'image member that is a symlink',
    options: {
      members: (members) =>
        members.map((m) => (m.name === 'images/root.raw.zst' ? { name: m.name, typeflag: '2' } : m)),
    },
    trident: ['COSI_IMAGE_MEMBER_NOT_FILE', 'images[1].image.path'],
    spec: ['COSI_IMAGE_MEMBER_NOT_FILE', 'images[1].image.path'],
  },
  {
    name: 'no cosi-marker (Trident never checks it)',
    options: { members: (members) => members.slice(1) },
    trident: null,
    spec: ['COSI_MARKER_NOT_FIRST', 'tar:cosi-marker'],
  },
  {
    name: 'non-empty cosi-marker',
    options: { members: (members) => [{ name: 'cosi-marker', data: 'x' }, ...members.slice(1)] },
    trident: null,
    spec: ['COSI_MARKER_NOT_EMPTY', 'tar:cosi-marker'],
  },
  {
    name: 'PAX header before the marker',
    options: { members: (members) => [{ name: 'cosi-marker', pax: { comment: 'hi' } }, ...members.slice(1)] },
    trident: null,
    spec: ['COSI_MARKER_NOT_AT_START', 'tar:cosi-marker'],
  },
  {
    name: 'metadata not second',
    options: { members: ([marker, metadata, ...rest]) => [marker!, ...rest, metadata!] },
    trident: null,
    spec: ['COSI_METADATA_NOT_SECOND', 'tar:metadata.json'],
  },
  {
    name: 'GPT image not third',
    options: { members: ([marker, metadata, gpt, ...rest]) => [marker!, metadata!, ...rest, gpt!] },
    trident: null,
    spec: ['COSI_GPT_NOT_THIRD', 'tar:images/gpt.raw.zst'],
  },
  {
    name: 'member name with ./',
    options: {
      members: (members) =>
        members.map((m) => (m.name === 'images/esp.raw.zst' ? { ...m, name: './images/esp.raw.zst' } : m)),
    },
    trident: null,
    spec: ['COSI_MEMBER_NAME_DOT_SLASH', 'tar:images/esp.raw.zst'],
  },
  {
    name: 'one zero block at the end',
    options: { endBlocks: 1 },
    trident: null,
    spec: ['COSI_TAR_END_MARKER', 'tar:'],
  },
  {
    name: 'empty fsType',
    options: { mutate: (m) => (m.images[1].fsType = '') },
    trident: ['COSI_FS_TYPE_UNKNOWN', 'images[1].fsType'],
    spec: ['COSI_FS_TYPE_EMPTY', 'images[1].fsType'],
  },
  {
    name: 'empty fsUuid',
    options: { mutate: (m) => (m.images[1].fsUuid = '') },
    trident: null,
    spec: ['COSI_FS_UUID_EMPTY', 'images[1].fsUuid'],
  },
  {
    name: 'primary-GPT member missing',
    options: { members: (members) => members.filter((m) => m.name !== 'images/gpt.raw.zst') },
    trident: ['COSI_GPT_MISSING', 'disk.gptRegions[0].image'],
    spec: ['COSI_GPT_MISSING', 'disk.gptRegions[0].image'],
  },
  {
    name: 'primary-GPT image that is not zstd',
    options: {
      compressedOverride: { 'images/gpt.raw.zst': new TextEncoder().encode('this is not a zstd frame') },
    },
    trident: ['COSI_GPT_CORRUPT', 'disk.gptRegions[0].image'],
    spec: ['COSI_GPT_CORRUPT', 'disk.gptRegions[0].image'],
  },
  {
    name: 'primary GPT with a bad entry CRC',
    options: { rawOverride: { 'images/gpt.raw.zst': gptWithFlippedEntry() } },
    trident: ['COSI_GPT_INVALID', 'disk.gptRegions[0].image'],
    spec: ['COSI_GPT_INVALID', 'disk.gptRegions[0].image'],
  },
  {
    name: 'primary-GPT image longer than the table (Trident tolerates it)',
    options: {
      rawOverride: {
        'images/gpt.raw.zst': Buffer.concat([buildFixtureCosi().gptRegion, new Uint8Array(512)]),
      },
    },
    trident: null,
    spec: ['COSI_GPT_REGION_LENGTH', 'disk.gptRegions[0].image.uncompressedSize'],
  },
  {
    name: 'image members out of region order (warning)',
    options: { members: ([a, b, c, esp, root]) => [a!, b!, c!, root!, esp!] },
    trident: null,
    spec: null,
    warnings: { spec: 'COSI_MEMBER_ORDER' },
  },
  {
    name: 'more than one systemd-boot UKI entry (warning)',
    options: {
      mutate: (m) =>
        (m.bootloader = {
          type: 'systemd-boot',
          systemdBoot: {
            entries: [
              { type: 'uki-standalone', path: 'EFI/Linux/a.efi', cmdline: 'ro', kernel: '6.6' },
              { type: 'uki-standalone', path: 'EFI/Linux/b.efi', cmdline: 'ro', kernel: '6.6' },
            ],
          },
        }),
    },
    trident: null,
    spec: null,
    warnings: { trident: 'COSI_SYSTEMD_BOOT_MULTIPLE_ENTRIES' },
  },
  {
    name: 'no end-of-archive marker',
    options: { endBlocks: 0 },
    trident: null,
    spec: ['COSI_TAR_END_MARKER', 'tar:'],
  },
  {
    name: 'duplicate JSON key',
    options: {
      metadataText: JSON.stringify(buildFixtureCosi().metadata).replace(
        '"osArch":"x86_64"',
        '"osArch":"x86_64","osArch":"x86_64"',
      ),
    },
    trident: ['COSI_DUPLICATE_KEY', 'osArch'],
    spec: null,
  },
  {
    name: 'size written as 1.0 style number',
    options: {
      metadataText: JSON.stringify(buildFixtureCosi().metadata).replace('"lbaSize":512', '"lbaSize":512.0'),
    },
    trident: ['COSI_NUMBER_NOT_INTEGER', 'disk.lbaSize'],
    spec: null,
  },
  {
    name: 'version 1.1 carrying disk (valid 1.1; the 1.2 rules do not apply)',
    options: {
      mutate: (m) => {
        m.version = '1.1';
        m.disk.lbaSize = 1024;
      },
    },
    trident: null,
    spec: null,
  },
  {
    name: 'version 1.3 gets the 1.2 rules',
    options: {
      mutate: (m) => {
        m.version = '1.3';
        delete m.compression;
      },
    },
    trident: ['COSI_COMPRESSION_REQUIRED', 'compression'],
    spec: ['COSI_COMPRESSION_REQUIRED', 'compression'],
  },
  {
    name: 'version 1.0 without sha384 (spec allows, Trident requires)',
    options: {
      mutate: (m) => {
        m.version = '1.0';
        delete m.images[0].image.sha384;
      },
    },
    trident: ['COSI_SHA384_REQUIRED', 'images[0].image.sha384'],
    spec: null,
  },
];

describe('validation rules', () => {
  for (const rule of cases) {
    for (const profile of ['trident', 'spec'] as const) {
      it(`${profile}: ${rule.name}`, async () => {
        const result = await report(rule.options, profile);
        const expected = rule[profile];
        if (expected === null) {
          expect(result.errors).toEqual([]);
          expect(result.valid).toBe(true);
        } else {
          expect(result.valid).toBe(false);
          expect(result.errors.map((e) => [e.code, e.path])).toContainEqual(expected);
          for (const error of result.errors) expect(error.message.length).toBeGreaterThan(10);
        }
        const warning = rule.warnings?.[profile];
        if (warning) expect(result.warnings.map((w) => w.code)).toContain(warning);
      });
    }
  }
});

describe('metadata that cannot be parsed', () => {
  it.each([
    ['not JSON', '{', 'COSI_METADATA_INVALID', 'COSI_METADATA_NOT_JSON'],
    ['not an object', '[]', 'COSI_METADATA_INVALID', 'COSI_METADATA_NOT_OBJECT'],
    ['version 2.0', '{"version":"2.0"}', 'COSI_VERSION_UNSUPPORTED', 'COSI_VERSION_UNSUPPORTED'],
    ['version 1.0.0', '{"version":"1.0.0"}', 'COSI_METADATA_INVALID', 'COSI_VERSION_FORMAT'],
    [
      'missing osArch',
      JSON.stringify({ ...buildFixtureCosi().metadata, osArch: undefined }),
      'COSI_METADATA_INVALID',
      'COSI_FIELD_REQUIRED',
    ],
    [
      'images null',
      JSON.stringify({ ...buildFixtureCosi().metadata, images: null }),
      'COSI_METADATA_INVALID',
      'COSI_FIELD_INVALID',
    ],
    [
      'negative size',
      JSON.stringify(buildFixtureCosi().metadata).replace('"lbaSize":512', '"lbaSize":-512'),
      'COSI_METADATA_INVALID',
      'COSI_FIELD_INVALID',
    ],
  ])('%s', async (_name, text, errorCode, findingCode) => {
    const fixture = buildFixtureCosi({ metadataText: text });
    const error = await openCosi(createBufferSource(fixture.bytes)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: errorCode });
    expect((error as { findings: Array<{ code: string }> }).findings.map((f) => f.code)).toContain(
      findingCode,
    );
  });
});
