import { type ByteSource, streamRange } from '../byte-source.ts';
import { CosiError, type CosiErrorCode } from '../errors.ts';
import { openFileSource } from '../file-source.ts';
import type { Gpt } from '../gpt/gpt.ts';
import { type ExpectedSha384, isWellFormedSha384, parseSha384Spec } from '../hash-spec.ts';
import {
  MAX_METADATA_BYTES,
  metadataSha384,
  type ParsedMetadata,
  parseMetadataBytes,
} from '../metadata/parse.ts';
import { type CosiMetadata, type ImageFile, versionAtLeast } from '../metadata/schema.ts';
import { lookupImageMember } from '../tar/image-member.ts';
import { readTarIndex, type TarEntry, type TarIndex } from '../tar/tar-index.ts';
import type { FindingList, ValidationProfile, ValidationReport } from '../validation/findings.ts';
import { validateCosiContext } from '../validation/validate.ts';
import { loadNativeCodec } from '../writer/native-codec.ts';
import { nodeZlibDecoder, type ZstdDecoder } from '../zstd.ts';
import { type DecodedGptRegion, decodeGptRegion } from './gpt-region.ts';
import { type ImageVerification, verifyImages } from './verify-images.ts';

export interface OpenCosiOptions {
  /** Expected metadata hash: `ignored` or `sha384:<hex>` (see `parseSha384Spec`), or a parsed one. */
  expectedSha384?: string | ExpectedSha384;
  decoder?: ZstdDecoder;
  signal?: AbortSignal;
}

export interface CosiReader {
  readonly source: ByteSource;
  readonly index: TarIndex;
  readonly metadata: CosiMetadata;
  readonly parsed: ParsedMetadata;
  /** The metadata.json member bytes, and their SHA-384 (lowercase hex), as Trident computes it. */
  readonly metadataBytes: Uint8Array;
  readonly metadataSha384: string;
  readonly decoder: ZstdDecoder;
  /** The tar member of an image path; throws COSI_MEMBER_NOT_FOUND or COSI_MEMBER_NOT_REGULAR. */
  member(path: string): TarEntry;
  /** Streams the compressed bytes of an image. */
  streamCompressed(file: ImageFile, options?: { signal?: AbortSignal }): AsyncIterable<Uint8Array>;
  /** The primary GPT (COSI ≥ 1.2), decoded and verified; throws COSI_GPT_UNAVAILABLE or COSI_GPT_INVALID. */
  gpt(options?: { signal?: AbortSignal }): Promise<Gpt>;
  /** Raw bytes of the primary-GPT region (verified), for writing to a disk. */
  gptRegionBytes(options?: { signal?: AbortSignal }): Promise<Uint8Array>;
  validate(profile?: ValidationProfile, options?: { signal?: AbortSignal }): Promise<ValidationReport>;
  /** Reads every image once: hash, decode and length checked against the metadata. */
  verifyImages(options?: {
    signal?: AbortSignal;
    onImage?: (result: ImageVerification) => void;
  }): Promise<ImageVerification[]>;
  close(): Promise<void>;
}

/**
 * Opens a COSI file: indexes the tar headers, reads and hashes metadata.json, checks the hash when
 * one is expected, and parses the metadata. Throws a CosiError when the file cannot be a COSI at
 * all (COSI_METADATA_INVALID carries the findings); validation of the values is `validate()`.
 */
export async function openCosi(
  input: ByteSource | string,
  options: OpenCosiOptions = {},
): Promise<CosiReader> {
  const source = typeof input === 'string' ? await openFileSource(input) : input;
  try {
    return await openFromSource(source, options);
  } catch (error) {
    if (typeof input === 'string') await source.close?.();
    throw error;
  }
}

async function openFromSource(source: ByteSource, options: OpenCosiOptions): Promise<CosiReader> {
  const signal = options.signal;
  const decoder = options.decoder ?? (await loadNativeCodec()) ?? nodeZlibDecoder;
  const index = await readTarIndex(source, signal ? { signal } : {});
  const metadataEntry = index.byPath.get('metadata.json');
  if (!metadataEntry) {
    throw new CosiError(
      'COSI_METADATA_NOT_FOUND',
      `${source.url}: COSI metadata not found (no "metadata.json" member); is this a COSI file?`,
    );
  }
  if (metadataEntry.type !== 'file') {
    throw new CosiError(
      'COSI_MEMBER_NOT_REGULAR',
      `${source.url}: "metadata.json" is a ${metadataEntry.type}, not a file`,
      {
        member: 'metadata.json',
      },
    );
  }
  if (metadataEntry.size > MAX_METADATA_BYTES) {
    throw new CosiError(
      'COSI_METADATA_TOO_LARGE',
      `${source.url}: metadata.json is ${metadataEntry.size} bytes; at most ${MAX_METADATA_BYTES} (16 MiB) are accepted (real metadata is a few hundred KiB at most)`,
      { member: 'metadata.json', offset: metadataEntry.dataOffset },
    );
  }
  const metadataBytes = await source.read(
    metadataEntry.dataOffset,
    metadataEntry.size,
    signal ? { signal } : {},
  );
  const sha = metadataSha384(metadataBytes);
  const expected =
    typeof options.expectedSha384 === 'string'
      ? parseSha384Spec(options.expectedSha384)
      : options.expectedSha384;
  if (expected?.kind === 'sha384' && expected.hex !== sha) {
    // Trident compares whatever follows `sha384:`; a malformed one fails here, as a mismatch.
    const hint = isWellFormedSha384(expected.hex)
      ? ''
      : ' (the expected hash is not 96 hexadecimal digits, so no metadata can match it)';
    throw new CosiError(
      'COSI_METADATA_HASH_MISMATCH',
      `${source.url}: COSI metadata hash '${sha}' does not match expected hash '${expected.hex}'${hint}`,
      { member: 'metadata.json' },
    );
  }
  const result = parseMetadataBytes(metadataBytes);
  if (!result.ok) throw metadataError(source.url, result.findings);
  const parsed: ParsedMetadata = { metadata: result.metadata, version: result.version, scan: result.scan };
  let gptRegion: Promise<DecodedGptRegion> | undefined;
  const loadGptRegion = (signal?: AbortSignal): Promise<DecodedGptRegion> => {
    gptRegion ??= decodeGptRegion(source, index, parsed.metadata, { decoder, signal });
    return gptRegion;
  };
  const member = (path: string): TarEntry => {
    const lookup = lookupImageMember(index.byPath, path);
    if (lookup.ok) return lookup.entry;
    // Trident's wording for a missing entry; ours for one that is not a regular file.
    throw new CosiError(
      lookup.reason === 'missing' ? 'COSI_MEMBER_NOT_FOUND' : 'COSI_MEMBER_NOT_REGULAR',
      lookup.reason === 'missing'
        ? `${source.url}: COSI file entry '${path}' not found`
        : `${source.url}: ${lookup.message}`,
      { member: path },
    );
  };
  const requireGpt = async (
    signal?: AbortSignal,
  ): Promise<DecodedGptRegion & { table: Gpt; bytes: Uint8Array }> => {
    if (!versionAtLeast(parsed.version, 1, 2) || !parsed.metadata.disk) {
      throw new CosiError(
        'COSI_GPT_UNAVAILABLE',
        `${source.url}: GPT data is not available for COSI ${parsed.metadata.version}; disk streaming needs COSI 1.2 or later`,
      );
    }
    const decoded = await loadGptRegion(signal);
    const problem = decoded.findings[0];
    if (!decoded.table || !decoded.bytes || problem) {
      throw new CosiError(
        'COSI_GPT_INVALID',
        `${source.url}: ${problem?.message ?? 'the primary-GPT region cannot be used'}`,
        {
          path: 'disk.gptRegions[0]',
          findings: decoded.findings,
        },
      );
    }
    return decoded as DecodedGptRegion & { table: Gpt; bytes: Uint8Array };
  };

  return {
    source,
    index,
    metadata: parsed.metadata,
    parsed,
    metadataBytes,
    metadataSha384: sha,
    decoder,
    member,
    streamCompressed(file, streamOptions = {}) {
      const entry = member(file.path);
      return streamRange(source, entry.dataOffset, entry.size, streamOptions);
    },
    async gpt(gptOptions = {}) {
      return (await requireGpt(gptOptions.signal)).table;
    },
    async gptRegionBytes(gptOptions = {}) {
      return (await requireGpt(gptOptions.signal)).bytes;
    },
    async validate(profile = 'trident', validateOptions = {}) {
      const disk = parsed.metadata.disk;
      const needsGpt =
        versionAtLeast(parsed.version, 1, 2) &&
        disk?.type === 'gpt' &&
        disk.gptRegions?.[0]?.type === 'primary-gpt';
      const gpt = needsGpt ? await loadGptRegion(validateOptions.signal) : undefined;
      return validateCosiContext({ parsed, tar: index, ...(gpt ? { gpt } : {}) }, profile);
    },
    verifyImages(verifyOptions = {}) {
      return verifyImages({ source, index, parsed, decoder }, verifyOptions);
    },
    async close() {
      await source.close?.();
    },
  };
}

/** The error for metadata that cannot be parsed: the first finding in the message, all in `findings`. */
export function metadataError(url: string, findings: FindingList): CosiError {
  const first = findings.items[0];
  const fatal = findings.items.find((f) =>
    ['COSI_VERSION_UNSUPPORTED', 'COSI_METADATA_TOO_LARGE', 'COSI_METADATA_TOO_DEEP'].includes(f.code),
  );
  const code = (fatal?.code ?? 'COSI_METADATA_INVALID') as CosiErrorCode;
  return new CosiError(
    code,
    `${url}: invalid COSI metadata${first ? ` at ${first.path || 'the top level'}: ${first.message}` : ''}`,
    {
      member: 'metadata.json',
      findings: findings.items,
      omittedFindings: findings.omitted.error,
      ...(first ? { path: first.path } : {}),
    },
  );
}
