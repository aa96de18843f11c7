import type { ByteSource } from '../byte-source.ts';
import { isCosiError } from '../errors.ts';
import { decodeGpt, type Gpt, type GptProblem, type LbaSize } from '../gpt/gpt.ts';
import type { CosiMetadata } from '../metadata/schema.ts';
import { lookupImageMember } from '../tar/image-member.ts';
import type { TarIndex } from '../tar/tar-index.ts';
import type { Finding } from '../validation/findings.ts';
import type { ZstdDecoder } from '../zstd.ts';
import { decodeImage, describeMismatch } from './image-stream.ts';

/** Real primary-GPT regions are tens of KiB; anything past this is not a partition table. */
const GPT_REGION_LIMIT = 64 * 1024 * 1024;

export interface DecodedGptRegion {
  table: Gpt | undefined;
  bytes: Uint8Array | undefined;
  decodedLength: number | undefined;
  findings: Finding[];
}

/**
 * Decodes `gptRegions[0]` and parses it as stream-disk needs it (reference cosi-format.md §2.4):
 * the compressed member must hash to its sha384, decode to exactly its uncompressedSize, and hold
 * a GPT with valid CRCs at the declared LBA size.
 */
export async function decodeGptRegion(
  source: ByteSource,
  index: TarIndex,
  metadata: CosiMetadata,
  options: { decoder: ZstdDecoder; signal?: AbortSignal | undefined },
): Promise<DecodedGptRegion> {
  const findings: Finding[] = [];
  const fail = (code: string, message: string): DecodedGptRegion => {
    findings.push({ code, severity: 'error', path: 'disk.gptRegions[0].image', message });
    return { table: undefined, bytes: undefined, decodedLength: undefined, findings };
  };
  const disk = metadata.disk;
  const region = disk?.gptRegions?.[0];
  if (!disk || !region || region.type !== 'primary-gpt')
    return { table: undefined, bytes: undefined, decodedLength: undefined, findings };
  if (disk.lbaSize !== 512 && disk.lbaSize !== 4096)
    return { table: undefined, bytes: undefined, decodedLength: undefined, findings };
  const lookup = lookupImageMember(index.byPath, region.image.path);
  if (!lookup.ok) return fail('COSI_GPT_MISSING', `the primary-GPT ${lookup.message}`);
  const entry = lookup.entry;

  const chunks: Uint8Array[] = [];
  let decoded: Awaited<ReturnType<typeof decodeImage>>;
  try {
    decoded = await decodeImage(source, entry, {
      decoder: options.decoder,
      maxWindowLog: metadata.compression?.maxWindowLog,
      limit: Math.min(GPT_REGION_LIMIT, Math.max(region.image.uncompressedSize, 2 * disk.lbaSize)),
      sink: (chunk) => {
        chunks.push(chunk);
      },
      signal: options.signal,
    });
  } catch (error) {
    if (isCosiError(error, 'COSI_IMAGE_CORRUPT'))
      return fail('COSI_GPT_CORRUPT', `primary-GPT image: ${error.message}`);
    throw error;
  }
  if (decoded.overLimit) {
    return fail(
      'COSI_GPT_SIZE_MISMATCH',
      `the primary-GPT image decodes to more than its uncompressedSize ${region.image.uncompressedSize}`,
    );
  }
  const mismatch = describeMismatch(region.image, decoded);
  if (mismatch)
    return fail(
      mismatch.field === 'sha384' ? 'COSI_GPT_HASH_MISMATCH' : 'COSI_GPT_SIZE_MISMATCH',
      mismatch.message,
    );
  const bytes = Buffer.concat(chunks);
  const { table, problems } = decodeGpt(bytes, { lbaSize: disk.lbaSize as LbaSize, diskSize: disk.size });
  for (const problem of problems) {
    findings.push({
      code: problem.code,
      severity: 'error',
      path: problemPath(problem, metadata),
      message: `GPT: ${problem.message}`,
    });
  }
  return { table, bytes, decodedLength: bytes.length, findings };
}

/**
 * Points a GPT problem at the metadata that describes it: the region of the partition it is about
 * when there is one (`disk.gptRegions[2]`), `disk.size` when the disk is too small, else the
 * primary-GPT image.
 */
function problemPath(problem: GptProblem, metadata: CosiMetadata): string {
  if (problem.code === 'COSI_GPT_DISK_TOO_SMALL') return 'disk.size';
  if (problem.partition !== undefined) {
    const index = (metadata.disk?.gptRegions ?? []).findIndex(
      (region) => region.type === 'partition' && region.number === problem.partition,
    );
    if (index !== -1) return `disk.gptRegions[${index}]`;
  }
  return 'disk.gptRegions[0].image';
}
