/**
 * trident.v1.CommitService/Commit and trident.v1preview.CommitService/CheckRoot, over the
 * engine's `commitHost` and `checkBootedRoot` on the daemon's datastore (`--datastore`).
 *
 * Commit is upstream's `Trident::commit` over gRPC: the `Completed` carries the stored image hash
 * (the recorded Host Configuration's `image.sha384`, when a checksum) and the servicing kind of
 * what was committed (NONE_REQUIRED when nothing waited); an A/B update whose health checks failed
 * needs a reboot back to the old volume, which the daemon performs unless the caller handles it.
 * CheckRoot (a stub upstream) is commit's booted-volume test alone: it records nothing.
 */
import type { ServiceImpl } from '@connectrpc/connect';
import { type HostStatus, openDatastore, type ServicingState } from '@trident/datastore';
import type { CommitService } from '../gen/trident/v1/commit_service_pb.ts';
import { ServicingKind } from '../gen/trident/v1/servicing_pb.ts';
import type { CommitService as CommitPreviewService } from '../gen/trident/v1preview/commit_service_pb.ts';
import type { TaskResult } from '../servicing-manager.ts';
import { rebootDecision } from '../wire.ts';
import { type StreamContext, servicingStream } from './servicing-stream.ts';

/** The recorded Host Status before the operation, undefined when it cannot be read (the engine reports why). */
export function recordedStatus(datastorePath: string): HostStatus | undefined {
  try {
    const store = openDatastore(datastorePath, { readOnly: true, busyTimeoutMs: 1000 });
    try {
      return store.current();
    } finally {
      store.close();
    }
  } catch {
    return undefined;
  }
}

/** Upstream's `stored_image_hash`: the recorded image checksum, none for `ignored`. */
export function storedImageHash(status: HostStatus | undefined): string | undefined {
  const sha384 = (status?.spec as { image?: { sha384?: unknown } } | undefined)?.image?.sha384;
  return typeof sha384 === 'string' && /^[0-9a-f]{96}$/iu.test(sha384)
    ? `sha384:${sha384.toLowerCase()}`
    : undefined;
}

/** The servicing a pending state belongs to, as upstream's commit names it. */
export function pendingServicingKind(state: ServicingState | undefined): ServicingKind {
  switch (state) {
    case 'clean-install-finalized':
      return ServicingKind.CLEAN_INSTALL;
    case 'ab-update-finalized':
    case 'ab-update-health-check-failed':
      return ServicingKind.AB_UPDATE;
    case 'manual-rollback-ab-finalized':
      return ServicingKind.MANUAL_ROLLBACK_AB;
    default:
      return ServicingKind.NONE_REQUIRED;
  }
}

export function createCommitService(
  context: StreamContext,
  datastorePath: string,
): ServiceImpl<typeof CommitService> {
  return {
    async *commit(request, ctx) {
      yield* servicingStream(
        context,
        {
          name: 'commit',
          reboot: rebootDecision(request.reboot),
          task: async (engine, session): Promise<TaskResult> => {
            const before = recordedStatus(datastorePath);
            const imageHash = storedImageHash(before);
            try {
              const outcome = await engine.commitHost({
                datastorePath,
                log: session.log,
                signal: session.signal,
              });
              return {
                status: 'success',
                rebootRequired: outcome.result === 'needs-reboot',
                imageHash,
                servicingKind:
                  outcome.result === 'nothing-to-do'
                    ? ServicingKind.NONE_REQUIRED
                    : pendingServicingKind(before?.servicingState),
              };
            } catch (error) {
              return { status: 'failure', error: engine.toTridentError(error) };
            }
          },
        },
        ctx,
      );
    },
  };
}

export function createCommitPreviewService(
  context: StreamContext,
  datastorePath: string,
): ServiceImpl<typeof CommitPreviewService> {
  return {
    async *checkRoot(_request, ctx) {
      yield* servicingStream(
        context,
        {
          name: 'check_root',
          // Upstream's RebootDecision::Error: checking never reboots.
          reboot: 'error',
          task: async (engine, session): Promise<TaskResult> => {
            const before = recordedStatus(datastorePath);
            try {
              const outcome = await engine.checkBootedRoot({ datastorePath, log: session.log });
              return {
                status: 'success',
                rebootRequired: false,
                imageHash: storedImageHash(before),
                servicingKind:
                  outcome.result === 'nothing-to-check'
                    ? ServicingKind.NONE_REQUIRED
                    : pendingServicingKind(outcome.state),
              };
            } catch (error) {
              return { status: 'failure', error: engine.toTridentError(error) };
            }
          },
        },
        ctx,
      );
    },
  };
}
