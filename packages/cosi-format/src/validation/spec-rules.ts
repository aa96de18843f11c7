import { partitionSize } from '../gpt/gpt.ts';
import { versionAtLeast } from '../metadata/schema.ts';
import {
  checkRegionListHead,
  imageFileRefs,
  OS_ARCH_ALIASES,
  SHA384_HEX,
  type ValidationContext,
} from './context.ts';
import type { FindingList } from './findings.ts';

const HYPHENATED_UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/u;
const SYSTEMD_BOOT_ENTRY_TYPES = new Set(['uki-standalone', 'uki-config', 'config']);

/**
 * Every MUST of the COSI specification (reference: cosi-format.md §1.1, §2.5, §2.6) that the
 * metadata and the decoded GPT can show. Container rules live in container-rules.ts.
 */
export function checkSpecRules(context: ValidationContext, findings: FindingList): void {
  const { metadata, version } = context.parsed;
  const v11 = versionAtLeast(version, 1, 1);
  const v12 = versionAtLeast(version, 1, 2);

  if (!(metadata.osArch.toLowerCase() in OS_ARCH_ALIASES)) {
    findings.error(
      'COSI_OS_ARCH_UNKNOWN',
      'osArch',
      `osArch "${metadata.osArch}" must be x86_64, amd64, x64, arm64 or aarch64`,
    );
  }
  if (metadata.id != null && !HYPHENATED_UUID.test(metadata.id)) {
    findings.error('COSI_ID_INVALID', 'id', `id "${metadata.id}" must be a hyphenated UUID`);
  }

  for (const ref of imageFileRefs(context.parsed)) {
    if (!ref.file.path.startsWith('images/') || ref.file.path.length === 'images/'.length) {
      findings.error(
        'COSI_IMAGE_PATH_PREFIX',
        `${ref.path}.path`,
        `image path "${ref.file.path}" must be under "images/"`,
      );
    }
    const sha = ref.file.sha384;
    if (sha === undefined) {
      if (v11)
        findings.error(
          'COSI_SHA384_REQUIRED',
          `${ref.path}.sha384`,
          `${ref.path}.sha384 is required from COSI 1.1`,
        );
    } else if (!SHA384_HEX.test(sha)) {
      findings.error(
        'COSI_SHA384_FORMAT',
        `${ref.path}.sha384`,
        `${ref.path}.sha384 must be 96 hexadecimal characters`,
      );
    }
  }

  const uuids = new Map<string, number>();
  metadata.images.forEach((fs, i) => {
    const at = `images[${i}]`;
    if (fs.fsType === '')
      findings.error('COSI_FS_TYPE_EMPTY', `${at}.fsType`, 'fsType must name the filesystem (kernel name)');
    if (fs.fsUuid === '') findings.error('COSI_FS_UUID_EMPTY', `${at}.fsUuid`, 'fsUuid must not be empty');
    const first = uuids.get(fs.fsUuid.toLowerCase());
    if (first !== undefined && fs.fsUuid !== '') {
      findings.error(
        'COSI_DUPLICATE_FS_UUID',
        `${at}.fsUuid`,
        `fsUuid "${fs.fsUuid}" is also used by images[${first}]; it must be unique`,
      );
    } else uuids.set(fs.fsUuid.toLowerCase(), i);
    if (!HYPHENATED_UUID.test(fs.partType)) {
      findings.error(
        'COSI_PART_TYPE_INVALID',
        `${at}.partType`,
        `partType "${fs.partType}" must be a GPT partition type UUID`,
      );
    }
  });

  if (v11) {
    const bootloader = metadata.bootloader;
    if (!bootloader)
      findings.error('COSI_BOOTLOADER_REQUIRED', 'bootloader', 'bootloader is required from COSI 1.1');
    else if (bootloader.type !== 'systemd-boot' && bootloader.type !== 'grub') {
      findings.error(
        'COSI_BOOTLOADER_UNKNOWN',
        'bootloader.type',
        `bootloader.type "${bootloader.type}" must be "systemd-boot" or "grub"`,
      );
    } else if (bootloader.type === 'grub' && bootloader.systemdBoot != null) {
      findings.error(
        'COSI_GRUB_WITH_SYSTEMD_BOOT',
        'bootloader.systemdBoot',
        'systemdBoot must be absent or null for grub',
      );
    } else if (bootloader.type === 'systemd-boot') {
      const entries = bootloader.systemdBoot?.entries ?? [];
      if (entries.length === 0) {
        findings.error(
          'COSI_SYSTEMD_BOOT_EMPTY_ENTRIES',
          'bootloader.systemdBoot.entries',
          'systemd-boot needs at least one entry',
        );
      }
      entries.forEach((entry, i) => {
        if (!SYSTEMD_BOOT_ENTRY_TYPES.has(entry.type)) {
          findings.error(
            'COSI_SYSTEMD_BOOT_ENTRY_TYPE',
            `bootloader.systemdBoot.entries[${i}].type`,
            `entry type "${entry.type}" must be uki-standalone, uki-config or config`,
          );
        }
      });
    }
    if (metadata.osPackages == null)
      findings.error('COSI_OS_PACKAGES_REQUIRED', 'osPackages', 'osPackages is required from COSI 1.1');
    (metadata.osPackages ?? []).forEach((pkg, i) => {
      if (pkg.release == null)
        findings.error(
          'COSI_PACKAGE_RELEASE_REQUIRED',
          `osPackages[${i}].release`,
          `package "${pkg.name}" has no release`,
        );
      if (pkg.arch == null)
        findings.error(
          'COSI_PACKAGE_ARCH_REQUIRED',
          `osPackages[${i}].arch`,
          `package "${pkg.name}" has no arch`,
        );
    });
  }

  if (!v12) return;
  const compression = metadata.compression;
  if (!compression)
    findings.error('COSI_COMPRESSION_REQUIRED', 'compression', 'compression is required from COSI 1.2');
  else if (compression.maxWindowLog < 10 || compression.maxWindowLog > 31) {
    findings.error(
      'COSI_MAX_WINDOW_LOG_RANGE',
      'compression.maxWindowLog',
      `maxWindowLog ${compression.maxWindowLog} is outside zstd's window range 10..31`,
    );
  }
  const disk = metadata.disk;
  if (!disk) {
    findings.error('COSI_DISK_REQUIRED', 'disk', 'disk is required from COSI 1.2');
    return;
  }
  if (disk.type !== 'gpt')
    findings.error('COSI_DISK_NOT_GPT', 'disk.type', `disk.type "${disk.type}" must be "gpt"`);
  if (disk.lbaSize !== 512 && disk.lbaSize !== 4096) {
    findings.error('COSI_LBA_SIZE', 'disk.lbaSize', `lbaSize ${disk.lbaSize} must be 512 or 4096`);
  } else if (disk.size % disk.lbaSize !== 0) {
    findings.error(
      'COSI_DISK_SIZE_ALIGNMENT',
      'disk.size',
      `disk.size ${disk.size} is not a multiple of lbaSize ${disk.lbaSize}`,
    );
  }
  checkRegions(context, findings);
}

function checkRegions(context: ValidationContext, findings: FindingList): void {
  const { metadata } = context.parsed;
  const regions = metadata.disk?.gptRegions ?? [];
  // The spec profile goes on after a misplaced primary GPT, to report every entry.
  if (checkRegionListHead(regions, findings).empty) return;
  const byPath = new Map(regions.map((region, i) => [region.image.path, { region, i }]));
  const numbers = new Set<number>();
  regions.forEach((region, i) => {
    const at = `disk.gptRegions[${i}]`;
    if (i > 0 && region.type === 'primary-gpt') {
      findings.error('COSI_MULTIPLE_PRIMARY_GPT', `${at}.type`, 'exactly one region may be "primary-gpt"');
    } else if (region.type !== 'primary-gpt' && region.type !== 'partition') {
      findings.error(
        'COSI_REGION_TYPE_UNKNOWN',
        `${at}.type`,
        `region type "${region.type}" must be "primary-gpt" or "partition"`,
      );
    } else if (region.type === 'partition') {
      if (region.number === undefined)
        findings.error('COSI_REGION_NUMBER_MISSING', `${at}.number`, 'a partition region needs "number"');
      else if (region.number === 0)
        findings.error('COSI_PARTITION_NUMBER_ZERO', `${at}.number`, 'partition numbers start at 1');
      else if (numbers.has(region.number)) {
        findings.error(
          'COSI_DUPLICATE_PARTITION_NUMBER',
          `${at}.number`,
          `partition number ${region.number} appears twice`,
        );
      } else numbers.add(region.number);
    }
  });
  for (const ref of imageFileRefs(context.parsed)) {
    if (ref.role === 'region') continue;
    const match = byPath.get(ref.file.path);
    if (match?.region.type !== 'partition') {
      findings.error(
        'COSI_IMAGE_WITHOUT_PARTITION',
        ref.path,
        `image "${ref.file.path}" has no partition region in disk.gptRegions`,
      );
      continue;
    }
    for (const field of ['compressedSize', 'uncompressedSize', 'sha384'] as const) {
      if (ref.file[field] !== match.region.image[field]) {
        findings.error(
          'COSI_IMAGE_FILE_MISMATCH',
          `${ref.path}.${field}`,
          `${field} differs from disk.gptRegions[${match.i}].image.${field}: the two descriptions of "${ref.file.path}" must be equal`,
        );
      }
    }
  }

  const gpt = context.gpt;
  if (!gpt) return;
  for (const finding of gpt.findings) findings.add(finding);
  const table = gpt.table;
  if (!table) return;
  const primary = regions[0];
  if (primary && gpt.decodedLength !== undefined && gpt.decodedLength !== table.regionLength) {
    findings.error(
      'COSI_GPT_REGION_LENGTH',
      'disk.gptRegions[0].image.uncompressedSize',
      `the primary-GPT image holds ${gpt.decodedLength} bytes but the table ends at byte ${table.regionLength}; it must be exactly LBA 0 to the end of the entry array`,
    );
  }
  regions.forEach((region, i) => {
    if (region.type !== 'partition' || region.number === undefined) return;
    const partition = table.partitions.find((p) => p.number === region.number);
    const at = `disk.gptRegions[${i}]`;
    if (!partition) {
      findings.error(
        'COSI_REGION_PARTITION_NOT_IN_GPT',
        `${at}.number`,
        `partition ${region.number} is not in the GPT`,
      );
      return;
    }
    const capacity = partitionSize(partition, table.lbaSize);
    if (region.image.uncompressedSize > capacity) {
      findings.error(
        'COSI_UNCOMPRESSED_EXCEEDS_PARTITION',
        `${at}.image.uncompressedSize`,
        `image "${region.image.path}" is ${region.image.uncompressedSize} bytes, larger than partition ${region.number} (${capacity} bytes)`,
      );
    }
  });
}
