import { type FileSourceProblem, openFileSource as openLocalFile } from '@trident/cosi-format';
import { RemoteSourceError, type RemoteSourceErrorCode } from './errors.ts';
import type { RandomAccessSource } from './types.ts';

const CODES: Record<FileSourceProblem, RemoteSourceErrorCode> = {
  open: 'REMOTE_FILE',
  'out-of-range': 'REMOTE_OUT_OF_RANGE',
  changed: 'REMOTE_CHANGED',
  closed: 'REMOTE_CLOSED',
  aborted: 'REMOTE_ABORTED',
};

/**
 * A local regular file or block device, read with positioned reads: cosi-format's file source (the
 * one home of local-file reading) raising this package's error codes. `file://` URLs are
 * percent-decoded by the caller.
 */
export function openFileSource(path: string): Promise<RandomAccessSource> {
  return openLocalFile(path, {
    error: (problem, message, details) =>
      new RemoteSourceError(CODES[problem], message, {
        url: path,
        ...(details.offset === undefined ? {} : { offset: details.offset }),
        ...(details.cause === undefined ? {} : { cause: details.cause }),
      }),
  });
}
