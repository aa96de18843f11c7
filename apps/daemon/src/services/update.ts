/**
 * trident.v1.UpdateService over the engine's A/B update (`kind: 'update'`) on the daemon's
 * datastore (`--datastore`), as upstream's handlers call `Trident::update`:
 * Update stages and finalizes, UpdateStage stages only (a run asking for a reboot would be a
 * failure: upstream's RebootDecision::Error), UpdateFinalize finalizes what is staged with the
 * stored Host Configuration (upstream's gRPC finalize uses the stored spec, so a file that lost its
 * sysext paths cannot make it see a "changed" configuration).
 */
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import type {
  AllowedOperations,
  UpdateRequest as EngineUpdateRequest,
  TridentErrorInfo,
} from '@trident/engine';
import type { UpdateService } from '../gen/trident/v1/update_service_pb.ts';
import type { DaemonOptions } from '../options.ts';
import { type RebootDecision, rebootDecision } from '../wire.ts';
import { recordedStatus } from './commit.ts';
import { checkStageFinalize, MISSING_CONFIG } from './install.ts';
import { type StreamContext, servicingStream } from './servicing-stream.ts';

function notProvisioned(datastorePath: string): TridentErrorInfo {
  const errorMessage = `no Host Status to update: cannot read the datastore ${datastorePath} (install the host first)`;
  return {
    kind: 'INVALID_INPUT_ERROR',
    subkind: 'host-not-provisioned',
    errorMessage,
    message: `Trident failed due to invalid input\n\nContext:\n  0: ${errorMessage}`,
    code: 'DAEMON_HOST_NOT_PROVISIONED',
  };
}

export function createUpdateService(
  context: StreamContext,
  options: DaemonOptions,
): ServiceImpl<typeof UpdateService> {
  const update = (
    name: string,
    hostConfiguration: { text: string; path: string },
    allowedOperations: AllowedOperations,
    reboot: RebootDecision,
  ) => {
    const request: EngineUpdateRequest = {
      kind: 'update',
      hostConfiguration,
      allowedOperations,
      datastorePath: options.datastorePath,
    };
    if (options.memoryLimit !== undefined) request.memoryLimit = options.memoryLimit;
    return { name, request, reboot };
  };
  return {
    async *update(request, ctx) {
      const text = checkStageFinalize(request);
      yield* servicingStream(
        context,
        update(
          'update',
          { text, path: '<UpdateRequest.stage.config>' },
          { stage: true, finalize: true },
          rebootDecision(request.finalize?.reboot),
        ),
        ctx,
      );
    },
    async *updateStage(request, ctx) {
      if (request.config === undefined) throw new ConnectError(MISSING_CONFIG, Code.InvalidArgument);
      yield* servicingStream(
        context,
        update(
          'update_stage',
          { text: request.config.config, path: '<StageUpdateRequest.config>' },
          { stage: true, finalize: false },
          'error',
        ),
        ctx,
      );
    },
    async *updateFinalize(request, ctx) {
      const stored = recordedStatus(options.datastorePath);
      yield* servicingStream(
        context,
        {
          ...update(
            'update_finalize',
            {
              text: JSON.stringify(stored?.spec ?? {}),
              path: `the Host Configuration recorded in ${options.datastorePath}`,
            },
            { stage: false, finalize: true },
            rebootDecision(request.reboot),
          ),
          // No stored configuration to finalize: said as the engine says it for Update.
          precheck: () => (stored === undefined ? notProvisioned(options.datastorePath) : undefined),
        },
        ctx,
      );
    },
  };
}
