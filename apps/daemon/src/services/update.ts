/**
 * trident.v1.UpdateService: validated like Trident, then UNIMPLEMENTED until the engine's A/B
 * update (helper "update", `servicing/update/`) is on main.
 */
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import type { UpdateService } from '../gen/trident/v1/update_service_pb.ts';
import { checkStageFinalize, MISSING_CONFIG } from './install.ts';

const NO_UPDATE = 'is not implemented by trident-ts yet: the engine has no A/B update.';

export function createUpdateService(): ServiceImpl<typeof UpdateService> {
  return {
    // biome-ignore lint/correctness/useYield: answers with a status before any message
    async *update(request) {
      checkStageFinalize(request);
      throw new ConnectError(`Update ${NO_UPDATE}`, Code.Unimplemented);
    },
    // biome-ignore lint/correctness/useYield: answers with a status before any message
    async *updateStage(request) {
      if (request.config === undefined) throw new ConnectError(MISSING_CONFIG, Code.InvalidArgument);
      throw new ConnectError(`UpdateStage ${NO_UPDATE}`, Code.Unimplemented);
    },
    // biome-ignore lint/correctness/useYield: answers with a status before any message
    async *updateFinalize() {
      throw new ConnectError(`UpdateFinalize ${NO_UPDATE}`, Code.Unimplemented);
    },
  };
}
