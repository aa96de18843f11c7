/**
 * Cross-checks between a Host Configuration and the metadata of its COSI image (reference §4). The
 * engine adapts COSI metadata to `ImageFacts`, so this package needs nothing of cosi-format's reader
 * (only its partition-type table).
 */
import type { HostConfigCode, Severity } from './codes.ts';
import type { Finding } from './errors.ts';
import { isUnder, longestPrefixMount, normalizeMountPath } from './mount-paths.ts';
import { partitionTypeGuid } from './partition-types.ts';
import type { Path } from './path.ts';
import { createRuleContext } from './rules/context.ts';
import { buildStorageGraph } from './rules/storage-model.ts';
import type { HostConfiguration } from './schema/root.ts';
import type { SourceDocument } from './yaml-source.ts';

/** One filesystem image of the COSI, as the engine reads it from `metadata.json`. */
export interface ImageFilesystemFacts {
  mountPoint: string;
  fsType: string;
  fsUuid?: string | undefined;
  /** Partition type name (`esp`, `root`, ...) or GPT type GUID. */
  partType: string;
  /** Set when the COSI says so explicitly; otherwise derived from `partType`. */
  isEsp?: boolean | undefined;
  uncompressedSize: number;
  /** Present when the filesystem has verity; the size of its hash image. */
  verity?: { hashUncompressedSize: number } | undefined;
}

export interface ImageFacts {
  filesystems: readonly ImageFilesystemFacts[];
}

export interface CosiCheckOptions {
  /** A/B update: only the ESP and filesystems on A/B volumes must come from the image. */
  abUpdate?: boolean;
  /** For line numbers in findings. */
  source?: SourceDocument | undefined;
}

const ESP_GUID = partitionTypeGuid('esp');
const isImageEsp = (f: ImageFilesystemFacts): boolean =>
  f.isEsp ?? (f.partType === 'esp' || f.partType.toLowerCase() === ESP_GUID);
const ENCRYPTION_OVERHEAD = 16 * 1024 * 1024;

/** Size of a block device in bytes when it can be known statically (reference §4.5). */
export function blockDeviceSize(
  config: HostConfiguration,
  id: string,
  seen = new Set<string>(),
): number | undefined {
  if (seen.has(id)) return undefined;
  seen.add(id);
  const s = config.storage;
  for (const disk of s.disks) {
    const p = disk.partitions.find((x) => x.id === id);
    if (p !== undefined) return p.size === 'grow' ? undefined : p.size;
  }
  const raid = s.raid.software.find((r) => r.id === id);
  if (raid !== undefined) {
    const sizes = raid.devices.map((d) => blockDeviceSize(config, d, seen));
    if (sizes.some((x) => x === undefined) || sizes.length === 0) return undefined;
    const min = Math.min(...(sizes as number[]));
    const n = sizes.length;
    switch (raid.level) {
      case 'raid0':
        return (sizes as number[]).reduce((a, b) => a + b, 0);
      case 'raid1':
        return min;
      case 'raid5':
        return (n - 1) * min;
      case 'raid6':
        return (n - 2) * min;
      case 'raid10':
        return Math.floor(n / 2) * min;
    }
  }
  const pair = s.abUpdate?.volumePairs.find((p) => p.id === id);
  if (pair !== undefined) return blockDeviceSize(config, pair.volumeAId, seen);
  const enc = s.encryption?.volumes.find((v) => v.id === id);
  if (enc !== undefined) {
    const backing = blockDeviceSize(config, enc.deviceId, seen);
    return backing === undefined ? undefined : backing - ENCRYPTION_OVERHEAD;
  }
  const verity = s.verity.find((v) => v.id === id);
  if (verity !== undefined) return blockDeviceSize(config, verity.dataDeviceId, seen);
  return undefined;
}

function isAbCapable(config: HostConfiguration, id: string | undefined): boolean {
  if (id === undefined) return false;
  const pairs = new Set(config.storage.abUpdate?.volumePairs.map((p) => p.id) ?? []);
  const verity = config.storage.verity.find((v) => v.id === id);
  return pairs.has(id) || (verity !== undefined && pairs.has(verity.dataDeviceId));
}

const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** The COSI cross-checks; findings are warnings instead of errors under `relaxedCosiValidation`. */
export function checkImageCompatibility(
  config: HostConfiguration,
  image: ImageFacts,
  options: CosiCheckOptions = {},
): Finding[] {
  const ctx = createRuleContext(config, options.source);
  const params = config.internalParams;
  const relaxed = params.relaxedCosiValidation === true;
  const report = (code: HostConfigCode, path: Path, message: string, severity?: Severity) =>
    ctx.report(code, path, message, relaxed ? 'warning' : severity);
  const filesystems = config.storage.filesystems;
  const graph = buildStorageGraph(config);
  const at = (i: number): Path => ['storage', 'filesystems', i, 'mountPoint'];

  const esps = image.filesystems.filter(isImageEsp);
  if (esps.length !== 1) {
    report(
      'HC_COSI_ESP_COUNT',
      ['image'],
      `The OS image has ${esps.length} ESP filesystems, but must have exactly one: rebuild the image with one \`esp\` partition.`,
    );
  }
  const imageFs = filesystems.flatMap((fs, i) => (fs.source === 'image' ? [{ fs, i }] : []));
  const byMount = new Map(image.filesystems.map((f) => [normalizeMountPath(f.mountPoint), f]));

  for (const f of image.filesystems) {
    const used = imageFs.some(
      ({ fs }) =>
        fs.mountPoint !== undefined &&
        normalizeMountPath(fs.mountPoint.path) === normalizeMountPath(f.mountPoint),
    );
    if (!used) {
      report(
        'HC_COSI_UNUSED_FILESYSTEM',
        ['storage', 'filesystems'],
        `Filesystem at '${f.mountPoint}' in OS Image is not being used by the provided Host Configuration. Add a filesystem with \`mountPoint: ${f.mountPoint}\` (source image), or set \`internalParams.allowUnusedFilesystems: true\`.`,
        params.allowUnusedFilesystems === true ? 'warning' : undefined,
      );
    }
  }
  for (const { fs, i } of imageFs) {
    if (fs.mountPoint === undefined) continue;
    if (options.abUpdate === true && !graph.isEsp[i] && !isAbCapable(config, fs.deviceId)) continue;
    if (!byMount.has(normalizeMountPath(fs.mountPoint.path))) {
      report(
        'HC_COSI_MISSING_FILESYSTEM',
        at(i),
        `Filesystem at '${fs.mountPoint.path}' in Host Configuration could not be found in the OS image (it has ${image.filesystems.map((f) => f.mountPoint).join(', ')}). Fix the mount point, or use \`source: new\` for a new filesystem.`,
      );
    }
  }
  const uuids = new Map<string, string>();
  for (const f of image.filesystems) {
    if (isImageEsp(f) || f.fsUuid === undefined || f.fsUuid === '') continue;
    const other = uuids.get(f.fsUuid.toLowerCase());
    if (other !== undefined)
      report(
        'HC_COSI_DUPLICATE_FS_UUID',
        ['image'],
        `The OS image filesystems at '${other}' and '${f.mountPoint}' share the filesystem UUID ${f.fsUuid}: rebuild the image with unique UUIDs.`,
      );
    else uuids.set(f.fsUuid.toLowerCase(), f.mountPoint);
  }
  const verityIds = new Set(config.storage.verity.map((v) => v.id));
  const hcVerity = new Set(
    filesystems.flatMap((fs) =>
      fs.deviceId !== undefined && verityIds.has(fs.deviceId) && fs.mountPoint !== undefined
        ? [normalizeMountPath(fs.mountPoint.path)]
        : [],
    ),
  );
  const imgVerity = new Set(
    image.filesystems.flatMap((f) => (f.verity !== undefined ? [normalizeMountPath(f.mountPoint)] : [])),
  );
  const onlyHc = [...hcVerity].filter((m) => !imgVerity.has(m));
  const onlyImg = [...imgVerity].filter((m) => !hcVerity.has(m));
  if (onlyHc.length > 0 || onlyImg.length > 0) {
    report(
      'HC_COSI_VERITY_MISMATCH',
      ['storage', 'verity'],
      `Verity in the image (${[...imgVerity].join(', ') || 'none'}) does not match verity in the Host Configuration (${[...hcVerity].join(', ') || 'none'}).${onlyImg.length > 0 ? ` Add a verity device for ${onlyImg.join(', ')}.` : ''}${onlyHc.length > 0 ? ` The image has no verity for ${onlyHc.join(', ')}: remove that verity device or use an image built with verity.` : ''}`,
    );
  }
  const hcEspIndex = graph.isEsp.indexOf(true);
  const hcEsp = filesystems[hcEspIndex]?.mountPoint?.path;
  const imgEsp = esps[0];
  if (
    imgEsp !== undefined &&
    hcEsp !== undefined &&
    normalizeMountPath(imgEsp.mountPoint) !== normalizeMountPath(hcEsp)
  ) {
    report(
      'HC_COSI_ESP_MOUNT_MISMATCH',
      at(hcEspIndex),
      `The image ESP is mounted at '${imgEsp.mountPoint}', but the Host Configuration ESP at '${hcEsp}': use the same path.`,
    );
  }
  if (imgEsp?.verity !== undefined)
    report(
      'HC_COSI_ESP_VERITY',
      ['image'],
      `The image ESP at '${imgEsp.mountPoint}' has verity, which the firmware cannot use: rebuild the image without verity on the ESP.`,
    );
  const bootIndex = longestPrefixMount(
    '/boot',
    image.filesystems.map((f) => f.mountPoint),
  );
  const boot = image.filesystems[bootIndex];
  if (
    boot !== undefined &&
    !isImageEsp(boot) &&
    boot.fsType !== 'ext4' &&
    isUnder('/boot', boot.mountPoint)
  ) {
    report(
      'HC_COSI_BOOT_FS_TYPE',
      ['image'],
      `The image filesystem holding /boot (at '${boot.mountPoint}') is ${boot.fsType}, but must be ext4 for the boot loader.`,
    );
  }
  if (params.disableFsBlockDeviceSizeCheck !== true) {
    for (const { fs, i } of imageFs) {
      const f = fs.mountPoint === undefined ? undefined : byMount.get(normalizeMountPath(fs.mountPoint.path));
      if (f === undefined || fs.deviceId === undefined) continue;
      const size = blockDeviceSize(config, fs.deviceId);
      if (size !== undefined && f.uncompressedSize > size) {
        report(
          'HC_COSI_SIZE_EXCEEDS_DEVICE',
          at(i),
          `The image filesystem for '${f.mountPoint}' is ${mib(f.uncompressedSize)}, larger than its block device '${fs.deviceId}' (${mib(size)}): enlarge the partition.`,
        );
      }
      const verity = config.storage.verity.find((v) => v.id === fs.deviceId);
      if (verity !== undefined && f.verity !== undefined) {
        const hashSize = blockDeviceSize(config, verity.hashDeviceId);
        if (hashSize !== undefined && f.verity.hashUncompressedSize > hashSize) {
          report(
            'HC_COSI_SIZE_EXCEEDS_DEVICE',
            at(i),
            `The verity hash image for '${f.mountPoint}' is ${mib(f.verity.hashUncompressedSize)}, larger than the hash device '${verity.hashDeviceId}' (${mib(hashSize)}): enlarge it.`,
          );
        }
      }
    }
  }
  return ctx.findings;
}
