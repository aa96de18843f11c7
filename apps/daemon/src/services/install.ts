/** trident.v1preview.InstallService: Install runs stage and finalize in one engine run. */
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

export function createInstallService(
  context: StreamContext,
  options: DaemonOptions,
): ServiceImpl<typeof InstallService> {
  return {
    async *install(request, ctx) {
      const text = checkStageFinalize(request);
      const engineRequest: EngineInstallRequest = {
        kind: 'install',
        hostConfiguration: { text, path: '<InstallRequest.stage.config>' },
      };
      if (Object.keys(options.installDisks).length > 0) engineRequest.disks = options.installDisks;
      if (options.allowArchMismatch) engineRequest.allowArchMismatch = true;
      if (options.memoryLimit !== undefined) engineRequest.memoryLimit = options.memoryLimit;
      yield* servicingStream(
        context,
        { name: 'install', request: engineRequest, reboot: rebootDecision(request.finalize?.reboot) },
        ctx,
      );
    },
    // biome-ignore lint/correctness/useYield: answers with a status before any message
    async *installStage(request) {
      if (request.config === undefined) throw new ConnectError(MISSING_CONFIG, Code.InvalidArgument);
      throw new ConnectError(
        'InstallStage is not implemented by trident-ts: the engine stages and finalizes in one run; call Install.',
        Code.Unimplemented,
      );
    },
    // biome-ignore lint/correctness/useYield: answers with a status before any message
    async *installFinalize() {
      throw new ConnectError(
        'InstallFinalize is not implemented by trident-ts: the engine stages and finalizes in one run; call Install.',
        Code.Unimplemented,
      );
    },
  };
}
