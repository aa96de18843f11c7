/**
 * Trident's servicing state machine (reference servicing.md §6–§9): which event may happen in
 * which state and what the Host Status becomes. Pure: `applyEvent(status, event)` returns the new
 * status or throws `DATASTORE_INVALID_TRANSITION` naming the state and the event. The datastore
 * appends the result as a row (`Datastore.apply`), so the history is the sequence of these events.
 */
import { DatastoreError } from './errors.ts';
import type {
  AbVolume,
  HostConfigurationDocument,
  HostStatus,
  LastError,
  ServicingState,
} from './host-status.ts';

export type ServicingEvent =
  /** An install begins on the installer: whatever was staged before is forgotten. */
  | { type: 'clean-install-started' }
  /** Images, partitions and OS configuration are in place on the target. */
  | {
      type: 'clean-install-staged';
      spec: HostConfigurationDocument;
      partitionPaths?: Record<string, string> | undefined;
      diskUuids?: Record<string, string> | undefined;
      installIndex?: number | undefined;
    }
  /** Boot entries point at the new OS; the next boot is into it. */
  | { type: 'clean-install-finalized' }
  /** The inactive volume holds the new OS and its configuration. */
  | {
      type: 'ab-update-staged';
      spec: HostConfigurationDocument;
      partitionPaths?: Record<string, string> | undefined;
    }
  /** The one-shot boot variable points at the updated volume. */
  | { type: 'ab-update-finalized' }
  /** A runtime update (extensions, netplan) is downloaded and ready to apply. */
  | { type: 'runtime-update-staged'; spec: HostConfigurationDocument }
  /** The runtime update was applied to the running OS. */
  | { type: 'runtime-update-finalized' }
  /** A new update starts while another was only staged: the staged one is dropped. */
  | { type: 'staged-update-abandoned' }
  /** A manual rollback to `spec` (the chain's target) is staged. */
  | { type: 'manual-rollback-staged'; kind: 'ab' | 'runtime'; spec: HostConfigurationDocument }
  /** An A/B rollback set the next boot to the other volume. */
  | { type: 'manual-rollback-ab-finalized' }
  /** A runtime rollback was applied. */
  | { type: 'manual-rollback-runtime-finalized' }
  /** Commit found the host on the expected volume and the health checks passed. */
  | { type: 'committed' }
  /** Commit found the host on the old volume (the new one did not boot). */
  | { type: 'booted-wrong-root' }
  /** Commit's health checks failed on the new OS. */
  | { type: 'health-checks-failed'; error: LastError }
  /** After failed health checks the host came back on the old volume. */
  | { type: 'rolled-back-after-health-checks' }
  /** Any step failed: recorded, the state stays. */
  | { type: 'failed'; error: LastError }
  /** A new servicing starts: the previous error is cleared. */
  | { type: 'error-cleared' };

export type ServicingEventType = ServicingEvent['type'];

/** The states each event may happen in. */
const ALLOWED: Record<ServicingEventType, readonly ServicingState[] | 'any'> = {
  'clean-install-started': ['not-provisioned', 'clean-install-staged', 'clean-install-finalized'],
  'clean-install-staged': ['not-provisioned'],
  'clean-install-finalized': ['clean-install-staged'],
  'ab-update-staged': ['provisioned'],
  'ab-update-finalized': ['ab-update-staged'],
  'runtime-update-staged': ['provisioned'],
  'runtime-update-finalized': ['runtime-update-staged'],
  'staged-update-abandoned': ['ab-update-staged', 'runtime-update-staged'],
  'manual-rollback-staged': ['provisioned'],
  'manual-rollback-ab-finalized': ['manual-rollback-ab-staged'],
  'manual-rollback-runtime-finalized': ['manual-rollback-runtime-staged'],
  committed: ['clean-install-finalized', 'ab-update-finalized', 'manual-rollback-ab-finalized'],
  'booted-wrong-root': ['clean-install-finalized', 'ab-update-finalized', 'manual-rollback-ab-finalized'],
  'health-checks-failed': ['clean-install-finalized', 'ab-update-finalized'],
  'rolled-back-after-health-checks': ['ab-update-health-check-failed'],
  failed: 'any',
  'error-cleared': 'any',
};

/** States in which `trident commit` has work to do (the others: "No servicing in progress"). */
export const COMMIT_PENDING_STATES: readonly ServicingState[] = [
  'clean-install-finalized',
  'ab-update-finalized',
  'manual-rollback-ab-finalized',
  'ab-update-health-check-failed',
];

export function canApply(state: ServicingState, type: ServicingEventType): boolean {
  const allowed = ALLOWED[type];
  return allowed === 'any' || allowed.includes(state);
}

function otherVolume(volume: AbVolume | undefined): AbVolume {
  // Trident: the first commit after a clean install makes volume A active (None → A).
  return volume === 'volume-a' ? 'volume-b' : 'volume-a';
}

/** The status without the fields of an update in progress. */
function settled(status: HostStatus, spec: HostConfigurationDocument): HostStatus {
  const { specOld: _old, ...rest } = status;
  return { ...rest, spec, servicingState: 'provisioned' };
}

export function applyEvent(status: HostStatus, event: ServicingEvent): HostStatus {
  const state = status.servicingState;
  if (!canApply(state, event.type)) {
    const allowed = ALLOWED[event.type];
    throw new DatastoreError(
      'DATASTORE_INVALID_TRANSITION',
      `servicing event '${event.type}' is not allowed in servicing state '${state}'` +
        (allowed === 'any' ? '' : ` (only in ${allowed.join(', ')})`),
    );
  }
  const previous = status.spec;
  switch (event.type) {
    case 'clean-install-started':
      // Only what survives an install is kept: the install index and the error being cleared.
      return {
        spec: {},
        servicingState: 'not-provisioned',
        installIndex: status.installIndex,
        ...(status.lastError ? { lastError: status.lastError } : {}),
        ...(status.isManagementOs ? { isManagementOs: true } : {}),
      };
    case 'clean-install-staged':
      return {
        ...status,
        spec: event.spec,
        servicingState: 'clean-install-staged',
        partitionPaths: event.partitionPaths,
        diskUuids: event.diskUuids,
        installIndex: event.installIndex ?? status.installIndex,
        abActiveVolume: undefined,
      };
    case 'clean-install-finalized':
      return { ...status, servicingState: 'clean-install-finalized' };
    case 'ab-update-staged':
      return {
        ...status,
        spec: event.spec,
        specOld: previous,
        servicingState: 'ab-update-staged',
        ...(event.partitionPaths ? { partitionPaths: event.partitionPaths } : {}),
        isManagementOs: undefined,
      };
    case 'ab-update-finalized':
      return { ...status, servicingState: 'ab-update-finalized' };
    case 'runtime-update-staged':
      return { ...status, spec: event.spec, specOld: previous, servicingState: 'runtime-update-staged' };
    case 'runtime-update-finalized':
    case 'manual-rollback-runtime-finalized':
      return settled(status, previous);
    case 'staged-update-abandoned':
      return settled(status, status.specOld ?? previous);
    case 'manual-rollback-staged':
      return {
        ...status,
        spec: event.spec,
        specOld: previous,
        servicingState: event.kind === 'ab' ? 'manual-rollback-ab-staged' : 'manual-rollback-runtime-staged',
      };
    case 'manual-rollback-ab-finalized':
      return { ...status, servicingState: 'manual-rollback-ab-finalized' };
    case 'committed':
      return { ...settled(status, previous), abActiveVolume: otherVolume(status.abActiveVolume) };
    case 'booted-wrong-root':
      if (state === 'clean-install-finalized')
        return { ...status, spec: {}, specOld: undefined, servicingState: 'not-provisioned' };
      // The update never took: the host runs what it ran before, on the same volume.
      return settled(status, status.specOld ?? previous);
    case 'health-checks-failed':
      return state === 'clean-install-finalized'
        ? { ...status, servicingState: 'not-provisioned', lastError: event.error }
        : { ...status, servicingState: 'ab-update-health-check-failed', lastError: event.error };
    case 'rolled-back-after-health-checks':
      // The original error stays: it says why the host is back on the old volume.
      return settled(status, status.specOld ?? previous);
    case 'failed':
      return { ...status, lastError: event.error };
    case 'error-cleared':
      return { ...status, lastError: undefined };
  }
}
