import { normalizeUuid } from '../gpt/guid.ts';
import { isDpsName } from '../gpt/partition-types.ts';
import { versionAtLeast } from '../metadata/schema.ts';
import {
  checkRegionListHead,
  imageFileRefs,
  OS_ARCH_ALIASES,
  osReleaseField,
  pathKey,
  SHA384_HEX,
  TRIDENT_FS_TYPES,
  TRIDENT_NOARCH,
  type ValidationContext,
} from './context.ts';
import type { FindingList } from './findings.ts';

/**
 * Trident's own checks, in its order (reference: cosi-format.md §2.1–2.4). Its serde parse runs
 * first: value rules that make Trident refuse the document outright. Then `validate()`, then the
 * GPT checks stream-disk performs. Trident stops at the first failure; we report them all, but the
 * verdict (any error or none) is Trident's.
 */
export function checkTridentRules(context: ValidationContext, findings: FindingList): void {
  checkParseRules(context, findings);
  checkValidateRules(context, findings);
  checkGptRules(context, findings);
}

function checkParseRules({ parsed }: ValidationContext, findings: FindingList): void {
  const { metadata, scan } = parsed;
  for (const path of scan.duplicateKeys) {
    findings.error(
      'COSI_DUPLICATE_KEY',
      path,
      `${path} appears twice in the same object; Trident rejects duplicate fields`,
    );
  }
  for (const path of scan.nonIntegerNumbers) {
    findings.error(
      'COSI_NUMBER_NOT_INTEGER',
      path,
      `${path} is written as a non-integer number; sizes must be plain integers`,
    );
  }
  // The scan records the first paths of each kind and counts the rest.
  findings.omit('error', scan.duplicateKeyCount - scan.duplicateKeys.length);
  findings.omit('error', scan.nonIntegerCount - scan.nonIntegerNumbers.length);
  if (!(metadata.osArch.toLowerCase() in OS_ARCH_ALIASES)) {
    findings.error(
      'COSI_OS_ARCH_UNKNOWN',
      'osArch',
      `osArch "${metadata.osArch}" is not a known architecture (x86_64, amd64, x64, arm64, aarch64)`,
    );
  }
  metadata.images.forEach((fs, i) => {
    if (!TRIDENT_FS_TYPES.has(fs.fsType)) {
      findings.error(
        'COSI_FS_TYPE_UNKNOWN',
        `images[${i}].fsType`,
        `Unknown filesystem type "${fs.fsType}"; Trident accepts ${[...TRIDENT_FS_TYPES].join(', ')}`,
      );
    }
    if (normalizeUuid(fs.partType) === undefined && !isDpsName(fs.partType)) {
      findings.error(
        'COSI_PART_TYPE_INVALID',
        `images[${i}].partType`,
        `Unknown partition type "${fs.partType}": expected a GPT type UUID or a DPS name such as "root" or "esp"`,
      );
    }
  });
  for (const ref of imageFileRefs(parsed)) {
    const sha = ref.file.sha384;
    if (sha === undefined) {
      findings.error(
        'COSI_SHA384_REQUIRED',
        `${ref.path}.sha384`,
        `${ref.path}.sha384 is required (Trident needs it for every version)`,
      );
    } else if (!SHA384_HEX.test(sha)) {
      findings.error(
        'COSI_SHA384_FORMAT',
        `${ref.path}.sha384`,
        `${ref.path}.sha384 must be 96 hexadecimal characters, found ${sha.length} characters`,
      );
    }
  }
  (metadata.osPackages ?? []).forEach((pkg, i) => {
    const arch = pkg.arch;
    if (typeof arch === 'string' && !TRIDENT_NOARCH.has(arch) && !(arch.toLowerCase() in OS_ARCH_ALIASES)) {
      findings.error(
        'COSI_PACKAGE_ARCH_UNKNOWN',
        `osPackages[${i}].arch`,
        `package "${pkg.name}" has arch "${arch}", which Trident cannot parse (it accepts noarch/none/all and the osArch spellings); the whole metadata is rejected`,
      );
    }
  });
  if (typeof metadata.id === 'string' && normalizeUuid(metadata.id) === undefined) {
    findings.error('COSI_ID_INVALID', 'id', `id "${metadata.id}" is not a UUID`);
  }
  (metadata.disk?.gptRegions ?? []).forEach((region, i) => {
    if (region.type === 'partition' && region.number === undefined) {
      findings.error(
        'COSI_REGION_NUMBER_MISSING',
        `disk.gptRegions[${i}].number`,
        `partition region ${i} needs a "number"`,
      );
    }
  });
}

function checkValidateRules({ parsed }: ValidationContext, findings: FindingList): void {
  const { metadata, version } = parsed;
  const seen = new Map<string, number>();
  metadata.images.forEach((fs, i) => {
    const key = pathKey(fs.mountPoint);
    const first = seen.get(key);
    if (first !== undefined) {
      findings.error(
        'COSI_DUPLICATE_MOUNT_POINT',
        `images[${i}].mountPoint`,
        `Duplicate mount point "${fs.mountPoint}" (also images[${first}].mountPoint)`,
      );
    } else seen.set(key, i);
  });

  if (versionAtLeast(version, 1, 1)) {
    const bootloader = metadata.bootloader;
    if (!bootloader) {
      findings.error('COSI_BOOTLOADER_REQUIRED', 'bootloader', 'bootloader is required from COSI 1.1');
    } else if (bootloader.type === 'grub') {
      if (bootloader.systemdBoot != null) {
        findings.error(
          'COSI_GRUB_WITH_SYSTEMD_BOOT',
          'bootloader.systemdBoot',
          'a grub bootloader must not carry systemdBoot entries',
        );
      }
    } else if (bootloader.type === 'systemd-boot') {
      const entries = bootloader.systemdBoot?.entries;
      if (bootloader.systemdBoot == null) {
        findings.error(
          'COSI_SYSTEMD_BOOT_MISSING_ENTRIES',
          'bootloader.systemdBoot',
          'systemd-boot requires bootloader.systemdBoot',
        );
      } else if (entries === undefined || entries.length === 0) {
        findings.error(
          'COSI_SYSTEMD_BOOT_EMPTY_ENTRIES',
          'bootloader.systemdBoot.entries',
          'systemd-boot requires at least one entry',
        );
      } else if (entries[0]?.type !== 'uki-standalone') {
        findings.warn(
          'COSI_SYSTEMD_BOOT_NOT_UKI',
          'bootloader.systemdBoot.entries[0].type',
          `the first systemd-boot entry is "${entries[0]?.type}", not "uki-standalone"`,
        );
      } else if (entries.length > 1) {
        findings.warn(
          'COSI_SYSTEMD_BOOT_MULTIPLE_ENTRIES',
          'bootloader.systemdBoot.entries',
          'more than one entry: only the first is used',
        );
      }
    } else {
      findings.warn(
        'COSI_BOOTLOADER_UNKNOWN',
        'bootloader.type',
        `unknown bootloader type "${bootloader.type}"`,
      );
    }

    const packages = metadata.osPackages;
    if (packages == null) {
      if (osReleaseField(metadata.osRelease, 'VARIANT_ID') !== 'azurecontainerlinux') {
        findings.error(
          'COSI_OS_PACKAGES_REQUIRED',
          'osPackages',
          'osPackages is required from COSI 1.1 (use [] when there are none)',
        );
      }
    } else {
      packages.forEach((pkg, i) => {
        if (pkg.release == null) {
          findings.error(
            'COSI_PACKAGE_RELEASE_REQUIRED',
            `osPackages[${i}].release`,
            `package "${pkg.name}" has no release`,
          );
        }
        if (pkg.arch == null) {
          findings.error(
            'COSI_PACKAGE_ARCH_REQUIRED',
            `osPackages[${i}].arch`,
            `package "${pkg.name}" has no arch`,
          );
        }
      });
    }
  }

  if (!versionAtLeast(version, 1, 2)) return;
  if (!metadata.compression)
    findings.error('COSI_COMPRESSION_REQUIRED', 'compression', 'compression is required from COSI 1.2');
  const disk = metadata.disk;
  if (!disk) {
    findings.error('COSI_DISK_REQUIRED', 'disk', 'disk is required from COSI 1.2');
    return;
  }
  if (disk.type !== 'gpt') {
    findings.error('COSI_DISK_NOT_GPT', 'disk.type', `disk.type is "${disk.type}"; only "gpt" is supported`);
    return;
  }
  const regions = disk.gptRegions ?? [];
  if (!checkRegionListHead(regions, findings).primaryFirst) return;

  const unmatched = new Map<string, { path: string; file: (typeof metadata.images)[number]['image'] }>();
  metadata.images.forEach((fs, i) => {
    unmatched.set(fs.image.path, { path: `images[${i}].image`, file: fs.image });
    if (fs.verity)
      unmatched.set(fs.verity.image.path, { path: `images[${i}].verity.image`, file: fs.verity.image });
  });
  const numbers = new Set<number>();
  regions.forEach((region, i) => {
    if (i === 0) return;
    const at = `disk.gptRegions[${i}]`;
    if (region.type === 'primary-gpt') {
      findings.error('COSI_MULTIPLE_PRIMARY_GPT', `${at}.type`, 'only the first region may be "primary-gpt"');
      return;
    }
    if (region.type !== 'partition') {
      findings.warn(
        'COSI_REGION_TYPE_UNKNOWN',
        `${at}.type`,
        `region type "${region.type}" is not known; it is skipped`,
      );
      return;
    }
    const number = region.number ?? 0;
    if (number === 0)
      findings.error('COSI_PARTITION_NUMBER_ZERO', `${at}.number`, 'partition numbers start at 1');
    else if (numbers.has(number))
      findings.error(
        'COSI_DUPLICATE_PARTITION_NUMBER',
        `${at}.number`,
        `partition number ${number} appears twice`,
      );
    numbers.add(number);
    const match = unmatched.get(region.image.path);
    if (!match) return;
    unmatched.delete(region.image.path);
    for (const field of ['compressedSize', 'uncompressedSize', 'sha384'] as const) {
      if (String(match.file[field]).toLowerCase() !== String(region.image[field]).toLowerCase()) {
        findings.error(
          'COSI_IMAGE_FILE_MISMATCH',
          `${at}.image.${field}`,
          `image "${region.image.path}" has ${field} ${String(region.image[field])} here but ${String(match.file[field])} at ${match.path}`,
        );
      }
    }
  });
  for (const [imagePath, { path }] of unmatched) {
    findings.error(
      'COSI_IMAGE_WITHOUT_PARTITION',
      path,
      `image "${imagePath}" has no corresponding partition region in disk.gptRegions`,
    );
  }
}

function checkGptRules({ parsed, gpt }: ValidationContext, findings: FindingList): void {
  const disk = parsed.metadata.disk;
  // LBA size and window are known from the metadata alone (a bare metadata.json too); Trident
  // refuses both as soon as it reads the GPT region.
  if (!versionAtLeast(parsed.version, 1, 2) || !disk || disk.type !== 'gpt') return;
  if (disk.lbaSize !== 512 && disk.lbaSize !== 4096) {
    findings.error(
      'COSI_LBA_SIZE',
      'disk.lbaSize',
      `Unsupported LBA size ${disk.lbaSize}: must be 512 or 4096`,
    );
    return;
  }
  const windowLog = parsed.metadata.compression?.maxWindowLog;
  if (windowLog !== undefined && windowLog !== 0 && (windowLog < 10 || windowLog > 31)) {
    // libzstd refuses the parameter itself, so Trident cannot decode anything ("Failed to set max window log").
    findings.error(
      'COSI_MAX_WINDOW_LOG_RANGE',
      'compression.maxWindowLog',
      `maxWindowLog ${windowLog} is outside zstd's range 10..31 (0 means the default, 27)`,
    );
    return;
  }
  if (!gpt) return;
  for (const finding of gpt.findings) findings.add(finding);
  const table = gpt.table;
  if (!table) return;
  const regions = (disk.gptRegions ?? []).filter((region) => region.type === 'partition');
  if (regions.length !== table.partitions.length) {
    findings.error(
      'COSI_REGION_COUNT_MISMATCH',
      'disk.gptRegions',
      `Number of partitions in disk metadata (${regions.length}) does not match number of GPT partitions (${table.partitions.length}): every GPT partition needs a region`,
    );
  }
  (disk.gptRegions ?? []).forEach((region, i) => {
    if (region.type !== 'partition' || region.number === undefined) return;
    if (!table.partitions.some((partition) => partition.number === region.number)) {
      findings.error(
        'COSI_REGION_PARTITION_NOT_IN_GPT',
        `disk.gptRegions[${i}].number`,
        `GPT partition number ${region.number} referenced in disk metadata not found in the GPT`,
      );
    }
  });
}
