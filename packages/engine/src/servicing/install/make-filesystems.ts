import { type BlockTarget, isBlockWriterError, makeFilesystem as makeOnTarget } from '@trident/block-writer';
import { EngineError } from '../../errors.ts';
import type { PlannedNewFilesystem } from '../../types.ts';

/**
 * Creates one planned filesystem (or swap area) in its partition's byte range with block-writer's
 * `makeFilesystem` (mkfs lives beside grow there), and gives its failures the engine's meaning:
 * not root is an environment problem, a swap too small is bad input, anything else failed the
 * create-filesystems step.
 */
export async function makeFilesystem(target: BlockTarget, fs: PlannedNewFilesystem): Promise<void> {
  try {
    await makeOnTarget(target, fs);
  } catch (error) {
    if (!isBlockWriterError(error)) throw error;
    if (error.code === 'BLOCK_NEEDS_ROOT') {
      throw new EngineError(
        'EXECUTION_ENVIRONMENT_MISCONFIGURATION_ERROR',
        'check-root-privileges',
        error.message,
        {
          cause: error,
          code: 'ENGINE_NEEDS_ROOT',
        },
      );
    }
    if (error.code === 'BLOCK_SWAP_TOO_SMALL') {
      throw new EngineError('INVALID_INPUT_ERROR', 'invalid-host-configuration', error.message, {
        cause: error,
      });
    }
    throw new EngineError('SERVICING_ERROR', 'create-filesystems', error.message, {
      cause: error,
      code: 'ENGINE_MKFS_FAILED',
    });
  }
}
