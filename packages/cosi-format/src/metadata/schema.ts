import { z } from 'zod';

/**
 * The metadata.json model for COSI 1.0, 1.1 and 1.2 (and later 1.x minors, which Trident reads
 * with the 1.2 rules). The schema checks shape only and accepts unknown fields, as Trident does;
 * which fields a version requires, and every value rule, are validation rules (see
 * `validation/`), so that each failure gets its own code and JSON path.
 */
const size = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const imageFileSchema = z.looseObject({
  path: z.string(),
  compressedSize: size,
  uncompressedSize: size,
  /** Required from 1.1 by the spec, always by Trident. */
  sha384: z.string().optional(),
});

export const verityConfigSchema = z.looseObject({
  image: imageFileSchema,
  roothash: z.string(),
});

export const filesystemSchema = z.looseObject({
  image: imageFileSchema,
  mountPoint: z.string(),
  fsType: z.string(),
  fsUuid: z.string(),
  partType: z.string(),
  verity: verityConfigSchema.nullish(),
});

export const osPackageSchema = z.looseObject({
  name: z.string(),
  version: z.string(),
  release: z.string().nullish(),
  arch: z.string().nullish(),
});

export const systemdBootEntrySchema = z.looseObject({
  type: z.string(),
  path: z.string(),
  cmdline: z.string(),
  kernel: z.string(),
});

export const bootloaderSchema = z.looseObject({
  type: z.string(),
  systemdBoot: z.looseObject({ entries: z.array(systemdBootEntrySchema) }).nullish(),
});

export const gptRegionSchema = z.looseObject({
  image: imageFileSchema,
  /** `primary-gpt` or `partition`; other values are kept and skipped, as Trident does. */
  type: z.string(),
  number: z.number().int().nonnegative().max(0xffffffff).optional(),
});

export const diskSchema = z.looseObject({
  size,
  lbaSize: z.number().int().nonnegative().max(0xffffffff),
  type: z.string(),
  gptRegions: z.array(gptRegionSchema).nullish(),
});

export const compressionSchema = z.looseObject({
  maxWindowLog: z.number().int().nonnegative().max(0xffffffff),
});

export const cosiMetadataSchema = z.looseObject({
  version: z.string(),
  osArch: z.string(),
  osRelease: z.string(),
  images: z.array(filesystemSchema),
  osPackages: z.array(osPackageSchema).nullish(),
  id: z.string().nullish(),
  bootloader: bootloaderSchema.nullish(),
  disk: diskSchema.nullish(),
  compression: compressionSchema.nullish(),
});

export type ImageFile = z.infer<typeof imageFileSchema>;
export type VerityConfig = z.infer<typeof verityConfigSchema>;
export type Filesystem = z.infer<typeof filesystemSchema>;
export type OsPackage = z.infer<typeof osPackageSchema>;
export type SystemdBootEntry = z.infer<typeof systemdBootEntrySchema>;
export type Bootloader = z.infer<typeof bootloaderSchema>;
export type GptRegion = z.infer<typeof gptRegionSchema>;
export type Disk = z.infer<typeof diskSchema>;
export type Compression = z.infer<typeof compressionSchema>;
export type CosiMetadata = z.infer<typeof cosiMetadataSchema>;

export interface CosiVersion {
  major: number;
  minor: number;
}

/** `major.minor`, each side a u32, as Trident parses it (a leading `+` is accepted; `1.0.0` is not). */
export function parseVersion(text: string): CosiVersion | undefined {
  const dot = text.indexOf('.');
  if (dot === -1) return undefined;
  const side = (part: string): number | undefined => {
    if (!/^\+?\d+$/u.test(part)) return undefined;
    const value = Number(part);
    return value <= 0xffffffff ? value : undefined;
  };
  const major = side(text.slice(0, dot));
  const minor = side(text.slice(dot + 1));
  return major === undefined || minor === undefined ? undefined : { major, minor };
}

export function versionAtLeast(version: CosiVersion, major: number, minor: number): boolean {
  return version.major > major || (version.major === major && version.minor >= minor);
}
