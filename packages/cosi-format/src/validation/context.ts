import type { Gpt } from '../gpt/gpt.ts';
import type { ParsedMetadata } from '../metadata/parse.ts';
import type { GptRegion, ImageFile } from '../metadata/schema.ts';
import type { TarIndex } from '../tar/tar-index.ts';
import type { Finding, FindingList } from './findings.ts';

/** What validation can look at besides the metadata; each part is optional so metadata alone can be checked. */
export interface ValidationContext {
  parsed: ParsedMetadata;
  /** The archive's member index, when a whole COSI file is validated. */
  tar?: TarIndex;
  /**
   * The primary-GPT region, decoded and parsed by the reader (COSI ≥ 1.2). `findings` holds what
   * went wrong decoding it (hash or size mismatch, unparsable table).
   */
  gpt?: { table: Gpt | undefined; decodedLength: number | undefined; findings: Finding[] };
}

export interface ImageFileRef {
  file: ImageFile;
  /** JSON path of the ImageFile object. */
  path: string;
  role: 'filesystem' | 'verity' | 'region';
}

/** Every ImageFile the metadata mentions, with where it is. */
export function imageFileRefs(parsed: ParsedMetadata): ImageFileRef[] {
  const refs: ImageFileRef[] = [];
  parsed.metadata.images.forEach((fs, i) => {
    refs.push({ file: fs.image, path: `images[${i}].image`, role: 'filesystem' });
    if (fs.verity) refs.push({ file: fs.verity.image, path: `images[${i}].verity.image`, role: 'verity' });
  });
  (parsed.metadata.disk?.gptRegions ?? []).forEach((region, i) => {
    refs.push({ file: region.image, path: `disk.gptRegions[${i}].image`, role: 'region' });
  });
  return refs;
}

/** Compares paths by components, as Rust's PathBuf does: `/boot` equals `/boot/` and `/boot//.`. */
export function pathKey(path: string): string {
  const absolute = path.startsWith('/');
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  return (absolute ? '/' : '') + parts.join('/');
}

export const SHA384_HEX = /^[0-9a-fA-F]{96}$/u;

/** `osArch` spellings Trident maps to its two architectures (compared lowercased). */
export const OS_ARCH_ALIASES: Record<string, 'x86_64' | 'aarch64'> = {
  x86_64: 'x86_64',
  amd64: 'x86_64',
  x64: 'x86_64',
  arm64: 'aarch64',
  aarch64: 'aarch64',
};

/** The only `fsType` values Trident parses (lowercase). */
export const TRIDENT_FS_TYPES = new Set([
  'ext4',
  'ext3',
  'ext2',
  'cramfs',
  'squashfs',
  'vfat',
  'msdos',
  'exfat',
  'iso9660',
  'ntfs',
  'btrfs',
  'xfs',
]);

/** Package `arch` values Trident accepts besides the osArch aliases. */
export const TRIDENT_NOARCH = new Set([
  'noarch',
  'NoArch',
  'NOARCH',
  'none',
  'None',
  'NONE',
  '(none)',
  '(None)',
  '(NONE)',
  'all',
  'All',
  'ALL',
  '',
]);

/** Reads `KEY=VALUE` lines of os-release text, quotes trimmed. */
export function osReleaseField(osRelease: string, key: string): string | undefined {
  for (const line of osRelease.split('\n')) {
    const equals = line.indexOf('=');
    if (equals === -1 || line.slice(0, equals).trim() !== key) continue;
    return line
      .slice(equals + 1)
      .trim()
      .replace(/^(["'])(.*)\1$/u, '$2');
  }
  return undefined;
}

/**
 * What both profiles require of `disk.gptRegions` before looking at its entries: a list, whose first
 * region is the primary GPT. Reports what is wrong; says whether the list is empty and whether it
 * starts with the primary GPT, so each profile decides how far to go on.
 */
export function checkRegionListHead(
  regions: readonly GptRegion[],
  findings: FindingList,
): { empty: boolean; primaryFirst: boolean } {
  if (regions.length === 0) {
    findings.error(
      'COSI_REGIONS_MISSING',
      'disk.gptRegions',
      'disk.gptRegions must list the primary GPT and the partitions',
    );
    return { empty: true, primaryFirst: false };
  }
  if (regions[0]?.type !== 'primary-gpt') {
    findings.error(
      'COSI_FIRST_REGION_NOT_PRIMARY_GPT',
      'disk.gptRegions[0].type',
      `the first region must be "primary-gpt", found "${regions[0]?.type}"`,
    );
    return { empty: false, primaryFirst: false };
  }
  return { empty: false, primaryFirst: true };
}
