// zod/mini, not classic zod: a classic schema carries dozens of methods as its own closures
// (about 13 KB per `z.string()` against 2.5 KB), so this model took 1.4 MiB of heap (0.7 with
// zod/mini) in every command that reads a COSI. Same zod core underneath, so the same issues,
// codes and paths.
import * as z from 'zod/mini';

// Classic zod installs the English messages when it is imported; zod/mini does not (every message
// would be "Invalid input"). The findings quote these messages, and parseShape recognises a missing
// field by "received undefined", so install them here as classic zod did.
z.config(z.locales.en());

/**
 * The metadata.json model for COSI 1.0, 1.1 and 1.2 (and later 1.x minors, which Trident reads
 * with the 1.2 rules). The schema checks shape only and accepts unknown fields, as Trident does;
 * which fields a version requires, and every value rule, are validation rules (see
 * `validation/`), so that each failure gets its own code and JSON path.
 */
// z.int() used as a check, as classic `.int()` does: the number type check first, then the format.
const size = z.number().check(z.int(), z.nonnegative(), z.maximum(Number.MAX_SAFE_INTEGER));
const u32 = z.number().check(z.int(), z.nonnegative(), z.maximum(0xffffffff));

export const imageFileSchema = z.looseObject({
  path: z.string(),
  compressedSize: size,
  uncompressedSize: size,
  /** Required from 1.1 by the spec, always by Trident. */
  sha384: z.optional(z.string()),
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
  verity: z.nullish(verityConfigSchema),
});

export const osPackageSchema = z.looseObject({
  name: z.string(),
  version: z.string(),
  release: z.nullish(z.string()),
  arch: z.nullish(z.string()),
});

export const systemdBootEntrySchema = z.looseObject({
  type: z.string(),
  path: z.string(),
  cmdline: z.string(),
  kernel: z.string(),
});

export const bootloaderSchema = z.looseObject({
  type: z.string(),
  systemdBoot: z.nullish(z.looseObject({ entries: z.array(systemdBootEntrySchema) })),
});

export const gptRegionSchema = z.looseObject({
  image: imageFileSchema,
  /** `primary-gpt` or `partition`; other values are kept and skipped, as Trident does. */
  type: z.string(),
  number: z.optional(u32),
});

export const diskSchema = z.looseObject({
  size,
  lbaSize: u32,
  type: z.string(),
  gptRegions: z.nullish(z.array(gptRegionSchema)),
});

export const compressionSchema = z.looseObject({
  maxWindowLog: u32,
});

export const cosiMetadataSchema = z.looseObject({
  version: z.string(),
  osArch: z.string(),
  osRelease: z.string(),
  images: z.array(filesystemSchema),
  osPackages: z.nullish(z.array(osPackageSchema)),
  id: z.nullish(z.string()),
  bootloader: z.nullish(bootloaderSchema),
  disk: z.nullish(diskSchema),
  compression: z.nullish(compressionSchema),
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
