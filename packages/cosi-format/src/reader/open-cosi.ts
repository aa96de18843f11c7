import { type ByteSource, openFileSource, streamRange } from '../byte-source.ts';
import { CosiError } from '../errors.ts';
import type { Gpt } from '../gpt/gpt.ts';
import { type ExpectedSha384, parseSha384Spec } from '../hash-spec.ts';
import { metadataSha384, type ParsedMetadata, parseMetadataBytes } from '../metadata/parse.ts';
import { type CosiMetadata, type ImageFile, versionAtLeast } from '../metadata/schema.ts';
import { readTarIndex, type TarEntry, type TarIndex } from '../tar/tar-index.ts';
import type { ValidationProfile, ValidationReport } from '../validation/findings.ts';
import { validateCosiContext } from '../validation/validate.ts';
import { loadNativeCodec } from '../writer/native-codec.ts';
import { nodeZlibDecoder, type ZstdDecoder } from '../zstd.ts';
import { type DecodedGptRegion, decodeGptRegion } from './gpt-region.ts';
import { type ImageVerification, verifyImages } from './verify-images.ts';

export interface OpenCosiOptions {
  /** Expected metadata hash: `ignored`, 96 hex digits or `sha384:<hex>`. */
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
  if (metadataEntry.size > 64 * 1024 * 1024) {
    throw new CosiError(
      'COSI_METADATA_INVALID',
      `${source.url}: metadata.json is ${metadataEntry.size} bytes; refusing more than 64 MiB`,
      {
        member: 'metadata.json',
      },
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
    throw new CosiError(
      'COSI_METADATA_HASH_MISMATCH',
      `${source.url}: COSI metadata hash '${sha}' does not match expected hash '${expected.hex}'`,
      { member: 'metadata.json' },
    );
  }
  const result = parseMetadataBytes(metadataBytes);
  if (!result.ok) {
    const first = result.findings.items[0];
    throw new CosiError(
      result.findings.items.some((f) => f.code === 'COSI_VERSION_UNSUPPORTED')
        ? 'COSI_VERSION_UNSUPPORTED'
        : 'COSI_METADATA_INVALID',
      `${source.url}: invalid COSI metadata${first ? ` at ${first.path || 'the top level'}: ${first.message}` : ''}`,
      { member: 'metadata.json', findings: result.findings.items, ...(first ? { path: first.path } : {}) },
    );
  }
  const parsed: ParsedMetadata = { metadata: result.metadata, version: result.version, scan: result.scan };
  let gptRegion: Promise<DecodedGptRegion> | undefined;
  const loadGptRegion = (signal?: AbortSignal): Promise<DecodedGptRegion> => {
    gptRegion ??= decodeGptRegion(source, index, parsed.metadata, { decoder, signal });
    return gptRegion;
  };
  const member = (path: string): TarEntry => {
    const entry = index.byPath.get(path.replace(/^\.\//u, ''));
    if (!entry)
      throw new CosiError('COSI_MEMBER_NOT_FOUND', `${source.url}: COSI file entry '${path}' not found`, {
        member: path,
      });
    if (entry.type !== 'file') {
      throw new CosiError(
        'COSI_MEMBER_NOT_REGULAR',
        `${source.url}: COSI entry '${path}' is a ${entry.type}, not a file`,
        { member: path },
      );
    }
    return entry;
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
