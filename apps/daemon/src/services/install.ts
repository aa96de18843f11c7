/**
 * trident.v1preview.InstallService: Install runs stage and finalize in one engine run;
 * InstallStage stops after staging (recorded in the daemon's `--datastore`, the servicing OS's),
 * InstallFinalize finalizes what that datastore says is staged, as upstream's `install` with
 * `Operation::Stage` / `Operation::Finalize`.
 */
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import type { InstallRequest as EngineInstallRequest } from '@trident/engine';
import type { InstallService } from '../gen/trident/v1preview/install_service_pb.ts';
import type { DaemonOptions } from '../options.ts';
import { rebootDecision } from '../wire.ts';
import { type StreamContext, servicingStream } from './servicing-stream.ts';

export const MISSING_STAGE = 'Missing staging configuration';
export const MISSING_CONFIG = 'Missing host configuration in staging configuration';
export const MISSING_FINALIZE = 'Missing finalize configuration';

/** The request checks Trident makes for Install and Update, in its order. */
export function checkStageFinalize(request: {
  stage?: { config?: { config: string } | undefined } | undefined;
  finalize?: unknown;
}): string {
  if (request.stage === undefined) throw new ConnectError(MISSING_STAGE, Code.InvalidArgument);
  if (request.stage.config === undefined) throw new ConnectError(MISSING_CONFIG, Code.InvalidArgument);
  if (request.finalize === undefined) throw new ConnectError(MISSING_FINALIZE, Code.InvalidArgument);
  return request.stage.config.config;
}

/** The engine request every install RPC starts from: the daemon's dev/test target overrides. */
function baseRequest(options: DaemonOptions): EngineInstallRequest {
  const engineRequest: EngineInstallRequest = { kind: 'install' };
  if (Object.keys(options.installDisks).length > 0) engineRequest.disks = options.installDisks;
  if (options.allowArchMismatch) engineRequest.allowArchMismatch = true;
  if (options.memoryLimit !== undefined) engineRequest.memoryLimit = options.memoryLimit;
  return engineRequest;
}

export function createInstallService(
  context: StreamContext,
  options: DaemonOptions,
): ServiceImpl<typeof InstallService> {
  return {
    async *install(request, ctx) {
      const text = checkStageFinalize(request);
      const engineRequest: EngineInstallRequest = {
        ...baseRequest(options),
        hostConfiguration: { text, path: '<InstallRequest.stage.config>' },
      };
      yield* servicingStream(
        context,
        { name: 'install', request: engineRequest, reboot: rebootDecision(request.finalize?.reboot) },
        ctx,
      );
    },
    async *installStage(request, ctx) {
      if (request.config === undefined) throw new ConnectError(MISSING_CONFIG, Code.InvalidArgument);
      const engineRequest: EngineInstallRequest = {
        ...baseRequest(options),
        hostConfiguration: { text: request.config.config, path: '<StageInstallRequest.config>' },
        allowedOperations: { stage: true, finalize: false },
        stagingDatastore: options.datastorePath,
      };
      // Upstream's RebootDecision::Error: staging never asks for a reboot.
      yield* servicingStream(
        context,
        { name: 'install_stage', request: engineRequest, reboot: 'error' },
        ctx,
      );
    },
    async *installFinalize(request, ctx) {
      const engineRequest: EngineInstallRequest = {
        ...baseRequest(options),
        allowedOperations: { stage: false, finalize: true },
        stagingDatastore: options.datastorePath,
      };
      yield* servicingStream(
        context,
        { name: 'install_finalize', request: engineRequest, reboot: rebootDecision(request.reboot) },
        ctx,
      );
    },
  };
}
