/**
 * Opening the installed host's datastore for a servicing that needs a provisioned host (commit,
 * CheckRoot, runtime update): a file that cannot be opened is upstream's `host-not-provisioned`,
 * coded ENGINE_HOST_NOT_PROVISIONED when there is no file at all.
 */
import { type Datastore, openDatastore } from '@trident/datastore';
import { EngineError } from '../../errors.ts';

export function openHostDatastore(path: string, options: { readOnly?: boolean; why: string }): Datastore {
  try {
    return openDatastore(path, options.readOnly ? { readOnly: true } : {});
  } catch (error) {
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'host-not-provisioned',
      `${options.why}: cannot open the datastore ${path}`,
      (error as { code?: string }).code === 'DATASTORE_NOT_FOUND'
        ? { cause: error, code: 'ENGINE_HOST_NOT_PROVISIONED' }
        : { cause: error },
    );
  }
}
