/** trident.v1.StreamingService: StreamDisk runs the engine's stream-disk on one disk. */
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { isCosiError, parseSha384Spec, unsupportedHashKindMessage } from '@trident/cosi-format';
import type { StreamDiskRequest as EngineStreamDiskRequest, TridentErrorInfo } from '@trident/engine';
import type { StreamingService } from '../gen/trident/v1/streaming_service_pb.ts';
import type { DaemonOptions } from '../options.ts';
import { rebootDecision } from '../wire.ts';
import { type StreamContext, servicingStream } from './servicing-stream.ts';

/** Trident parses the URL with the `url` crate; these texts follow its two common errors. */
export function checkImageUrl(url: string): void {
  try {
    new URL(url);
  } catch {
    const reason = /^[A-Za-z][A-Za-z0-9+.-]*:/.test(url) ? 'invalid URL' : 'relative URL without a base';
    throw new ConnectError(`Invalid image URL '${url}': ${reason}`, Code.InvalidArgument);
  }
}

/** Trident accepts only `ignored` or `sha384:<hex>` (ImageSha384::new) and reports others in Completed. */
export function checkHashKind(hash: string): TridentErrorInfo | undefined {
  try {
    parseSha384Spec(hash); // cosi-format's one hash-spec parser: Trident's rules and message
    return undefined;
  } catch (error) {
    if (!isCosiError(error, 'COSI_HASH_FORMAT')) throw error;
  }
  const errorMessage = unsupportedHashKindMessage(hash);
  return {
    kind: 'INVALID_INPUT_ERROR',
    subkind: 'unsupported-hash-kind',
    errorMessage,
    message: `Trident failed due to invalid input\n\nContext:\n  0: ${errorMessage}`,
    code: 'DAEMON_UNSUPPORTED_HASH_KIND',
  };
}

export function createStreamingService(
  context: StreamContext,
  options: DaemonOptions,
): ServiceImpl<typeof StreamingService> {
  return {
    async *streamDisk(request, ctx) {
      checkImageUrl(request.imageUrl);
      const hash = request.imageHash ?? 'ignored';
      const target = options.streamTarget ?? { kind: 'auto' as const };
      const engineRequest: EngineStreamDiskRequest = {
        kind: 'stream-disk',
        url: request.imageUrl,
        sha384: hash,
        target,
      };
      // Trident's stream-disk never grows filesystems (NoResize).
      engineRequest.resize = false;
      if (options.allowArchMismatch && target.kind === 'image-file') engineRequest.allowArchMismatch = true;
      if (options.memoryLimit !== undefined) engineRequest.memoryLimit = options.memoryLimit;
      yield* servicingStream(
        context,
        {
          name: 'stream_disk',
          request: engineRequest,
          reboot: rebootDecision(request.reboot),
          precheck: () => checkHashKind(hash),
        },
        ctx,
      );
    },
  };
}
