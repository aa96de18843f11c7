/**
 * CheckRoot (gRPC `trident.v1preview.CommitService/CheckRoot`, "validates that the host booted
 * using the expected root filesystem"; a stub upstream): commit's booted-volume test alone, read
 * only. Nothing is recorded and no health check runs, so a caller can ask before it commits.
 */
import { COMMIT_PENDING_STATES, type ServicingState } from '@trident/datastore';
import { EngineError } from '../../errors.ts';
import { openHostDatastore } from '../host/open-datastore.ts';
import { currentRootDevice, expectedRoot, isExpectedRoot } from './booted-root.ts';
import { type CommitOptions, expectation, recordedConfiguration } from './commit.ts';

export type CheckRootOutcome =
  /** No servicing waits for a boot: there is no expected root to compare with. */
  | { result: 'nothing-to-check'; state: ServicingState }
  /** `/` is the device the pending servicing expects. */
  | { result: 'expected-root'; state: ServicingState; root: string; expected: string };

/** Throws the subkind commit would record for a wrong root (e.g. `ab-update-reboot-check`), recording nothing. */
export async function checkBootedRoot(options: CommitOptions): Promise<CheckRootOutcome> {
  const store = openHostDatastore(options.datastorePath, { readOnly: true, why: 'no root to check' });
  let status: ReturnType<typeof store.current>;
  try {
    status = store.current();
  } finally {
    store.close();
  }
  const state = status.servicingState;
  if (!COMMIT_PENDING_STATES.includes(state)) {
    options.log?.('info', `No servicing in progress (servicing state ${state}): no expected root to check`);
    return { result: 'nothing-to-check', state };
  }
  const { volume, wrongRootSubkind } = expectation(status);
  const expected = expectedRoot(recordedConfiguration(status, options), status, volume);
  const root = await currentRootDevice(options);
  if (!(await isExpectedRoot(root, expected, options)))
    throw new EngineError(
      'SERVICING_ERROR',
      wrongRootSubkind,
      `the host should have booted ${volume} (${expected.path}), but / is ${root}`,
      { code: 'ENGINE_WRONG_ROOT' },
    );
  options.log?.('info', `Root is ${root}, the ${volume} device ${expected.path} that ${state} expects`);
  return { result: 'expected-root', state, root, expected: expected.path };
}
