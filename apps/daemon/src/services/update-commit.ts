/**
 * trident.v1.UpdateService and CommitService: validated like Trident, then UNIMPLEMENTED until the
 * engine supports A/B updates and commit.
 */
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import type { CommitService } from '../gen/trident/v1/commit_service_pb.ts';
import type { UpdateService } from '../gen/trident/v1/update_service_pb.ts';
import { checkStageFinalize, MISSING_CONFIG } from './install.ts';

const NO_UPDATE =
  'is not implemented by trident-ts yet: A/B and runtime updates need engine support that does not exist.';

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

export function createCommitService(): ServiceImpl<typeof CommitService> {
  return {
    // biome-ignore lint/correctness/useYield: answers with a status before any message
    async *commit() {
      throw new ConnectError(
        'Commit is not implemented by trident-ts yet: there is no A/B update to commit (stream-disk and install need none).',
        Code.Unimplemented,
      );
    },
  };
}
