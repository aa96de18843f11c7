import {
  type ByteSource,
  type CosiReader,
  isCosiError,
  openCosi,
  parseSha384Spec,
  type ValidationReport,
} from '@trident/cosi-format';
import { openSource } from '@trident/remote-source';
import { EngineError, wrapStep } from '../../errors.ts';
import { hostOsArch, normalizeOsArch } from '../../host-arch.ts';
import type { CommonRequestOptions } from '../../types.ts';

export interface OpenedImage {
  reader: CosiReader;
  report: ValidationReport;
}

/**
 * Loads and checks a COSI the way Trident's `OsImage::load` does, with our stricter reader: opens
 * the source, checks the metadata hash, validates with the chosen profile and requires the image
 * architecture to be the host's. Every failure is INVALID_INPUT `load-cosi` (hash-format problems
 * `unsupported-hash-kind`, architecture `mismatched-architecture`), as in Trident.
 */
export async function openImage(
  url: string,
  sha384: string | undefined,
  options: CommonRequestOptions & { signal?: AbortSignal | undefined; archCheck: boolean },
): Promise<OpenedImage> {
  const expected = sha384 ?? 'ignored';
  try {
    parseSha384Spec(expected); // the one parser of hash specs (cosi-format), Trident's rules and message
  } catch (error) {
    if (!isCosiError(error, 'COSI_HASH_FORMAT')) throw error;
    throw new EngineError('INVALID_INPUT_ERROR', 'unsupported-hash-kind', error.message, {
      code: error.code,
    });
  }
  let source: ByteSource;
  try {
    source = (await openSource(url, {
      ...options.source,
      ...(options.signal ? { signal: options.signal } : {}),
    })) as ByteSource;
  } catch (error) {
    throw wrapStep('INVALID_INPUT_ERROR', 'load-cosi', `Failed to load COSI file from '${url}'`, error);
  }
  let reader: CosiReader;
  try {
    reader = await openCosi(source, {
      expectedSha384: expected,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    await source.close?.();
    throw wrapStep('INVALID_INPUT_ERROR', 'load-cosi', `Failed to load COSI file from '${url}'`, error);
  }
  try {
    const report = await reader.validate(
      options.profile ?? 'trident',
      options.signal ? { signal: options.signal } : {},
    );
    if (!report.valid) {
      const first = report.errors[0]!;
      throw new EngineError(
        'INVALID_INPUT_ERROR',
        'load-cosi',
        `Failed to load COSI file from '${url}': invalid COSI metadata (${report.profile} profile): ${first.code} at ${first.path || 'the top level'}: ${first.message}${report.errors.length > 1 ? ` (and ${report.errors.length - 1} more)` : ''}`,
        { code: first.code },
      );
    }
    if (options.archCheck) {
      const host = hostOsArch();
      const image = normalizeOsArch(reader.metadata.osArch);
      if (host !== undefined && image !== host) {
        throw new EngineError(
          'INVALID_INPUT_ERROR',
          'mismatched-architecture',
          `COSI image architecture '${reader.metadata.osArch}' does not match the host architecture '${host}'${
            options.allowArchMismatch === undefined
              ? '; for a disk-image file target pass --allow-arch-mismatch'
              : ''
          }`,
          { code: 'ENGINE_ARCH_MISMATCH' },
        );
      }
    }
    return { reader, report };
  } catch (error) {
    await reader.close();
    if (isCosiError(error))
      throw wrapStep('INVALID_INPUT_ERROR', 'load-cosi', `Failed to load COSI file from '${url}'`, error);
    throw error;
  }
}
