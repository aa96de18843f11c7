/**
 * trident.v1preview.StatusService, answered from the datastore (`--datastore`, default Trident's
 * location), opened read-only for each request so every answer is what is recorded right now,
 * whoever wrote it (our engine, `trident` commands, Trident itself).
 *
 * Without a datastore file the host was never provisioned: the servicing state and last error
 * then come from this daemon's memory (operations it ran that keep no datastore), the active
 * volume is NO_VOLUME, and the two configuration getters answer FAILED_PRECONDITION saying so.
 * Trident answers the configuration getters and GetLastError with INTERNAL "Not implemented"
 * (reference servicing.md §6); the proto's intent is implemented here.
 *
 * Like Trident's read RPCs, every method answers UNAVAILABLE "Servicing is active" while an
 * operation runs.
 */
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import {
  type AbVolume,
  DatastoreError,
  failureFromLastError,
  type HostStatus,
  isDatastoreError,
  type LastError,
  openDatastore,
  type ServicingState as StoredState,
  type TridentKindName,
  toYaml,
} from '@trident/datastore';
import { type TridentError, TridentErrorSchema } from '../gen/trident/v1/error_pb.ts';
import { FileLocationSchema } from '../gen/trident/v1/file_location_pb.ts';
import { HostConfigurationSchema } from '../gen/trident/v1/host_config_pb.ts';
import {
  ABVolumeState,
  type GetConfigResponse,
  ServicingState,
  type StatusService,
} from '../gen/trident/v1preview/status_service_pb.ts';
import type { ServicingManager } from '../servicing-manager.ts';
import { toProtoError, toProtoErrorKind } from '../wire.ts';

/** Trident's mapping (`server/tridentserver/datastore.rs`): datastore state → wire state. */
const WIRE_STATE: Record<StoredState, ServicingState> = {
  'not-provisioned': ServicingState.NOT_PROVISIONED,
  'clean-install-staged': ServicingState.INSTALL_STAGED,
  'ab-update-staged': ServicingState.UPDATE_AB_STAGED,
  'manual-rollback-ab-staged': ServicingState.MANUAL_ROLLBACK_AB_STAGED,
  'manual-rollback-runtime-staged': ServicingState.MANUAL_ROLLBACK_RUNTIME_STAGED,
  'runtime-update-staged': ServicingState.UPDATE_RUNTIME_STAGED,
  'clean-install-finalized': ServicingState.INSTALL_FINALIZED,
  'ab-update-finalized': ServicingState.UPDATE_AB_FINALIZED,
  'manual-rollback-ab-finalized': ServicingState.MANUAL_ROLLBACK_AB_FINALIZED,
  provisioned: ServicingState.PROVISIONED,
  'ab-update-health-check-failed': ServicingState.UPDATE_AB_HEALTH_CHECK_FAILED,
};

const WIRE_VOLUME: Record<AbVolume, ABVolumeState> = {
  'volume-a': ABVolumeState.VOLUME_A,
  'volume-b': ABVolumeState.VOLUME_B,
};

/**
 * Trident's mapping of error categories to status codes for its preview read RPCs
 * (reference grpc-api.md §4.2).
 */
const STATUS_CODE: Record<TridentKindName, Code> = {
  EXECUTION_ENVIRONMENT_MISCONFIGURATION_ERROR: Code.FailedPrecondition,
  INITIALIZATION_ERROR: Code.FailedPrecondition,
  UNSUPPORTED_CONFIGURATION_ERROR: Code.FailedPrecondition,
  INTERNAL_ERROR: Code.Internal,
  INVALID_INPUT_ERROR: Code.InvalidArgument,
  HEALTH_CHECKS_ERROR: Code.Unknown,
  SERVICING_ERROR: Code.Unknown,
};

/**
 * An engine failure as the status of a read RPC (RollbackService): the category's code, the
 * subkind in brackets before the message, as datastore failures are reported here.
 */
export function engineErrorStatus(info: {
  kind: string;
  subkind: string;
  errorMessage: string;
}): ConnectError {
  // Not provisioned is a state of the host, not a bad argument: as the configuration getters say it.
  const code =
    info.subkind === 'host-not-provisioned'
      ? Code.FailedPrecondition
      : ((STATUS_CODE as Record<string, Code>)[info.kind] ?? Code.Internal);
  return new ConnectError(`[${info.subkind}] ${info.errorMessage}`, code);
}

/** The states in which the host runs a configuration it committed (possibly while servicing). */
const NOT_YET_PROVISIONED: readonly StoredState[] = [
  'not-provisioned',
  'clean-install-staged',
  'clean-install-finalized',
];

/** A recorded error as the wire's TridentError; Trident's `file:line` locations are kept. */
function wireError(record: LastError): TridentError {
  const failure = failureFromLastError(record);
  const error = create(TridentErrorSchema, {
    kind: toProtoErrorKind(failure.kind),
    subkind: failure.subkind,
    message: failure.message,
    errorMessage: failure.errorMessage,
  });
  const location = typeof record.location === 'string' ? /^(.+):(\d+)$/u.exec(record.location) : null;
  if (location)
    error.location = create(FileLocationSchema, { path: location[1]!, line: Number(location[2]) });
  return error;
}

function configResponse(spec: Record<string, unknown>): Partial<GetConfigResponse> {
  return { config: create(HostConfigurationSchema, { config: toYaml(spec) }) };
}

export function createStatusService(
  manager: ServicingManager,
  datastorePath: string,
): ServiceImpl<typeof StatusService> {
  const readLock = () => {
    if (manager.current !== undefined) throw new ConnectError('Servicing is active', Code.Unavailable);
  };

  /** The recorded Host Status, or undefined when there is no datastore file. */
  const recorded = (): HostStatus | undefined => {
    readLock();
    let store: ReturnType<typeof openDatastore> | undefined;
    try {
      // A short lock wait: this runs on the event loop, and a writer's transaction is one row.
      store = openDatastore(datastorePath, { readOnly: true, busyTimeoutMs: 1000 });
      return store.current();
    } catch (error) {
      if (isDatastoreError(error, 'DATASTORE_NOT_FOUND')) return undefined;
      if (error instanceof DatastoreError)
        throw new ConnectError(`[${error.code}] ${error.message}`, STATUS_CODE[error.tridentKind]);
      throw error;
    } finally {
      store?.close();
    }
  };

  const notProvisioned = (status: HostStatus | undefined): ConnectError =>
    new ConnectError(
      status === undefined
        ? `Host is not provisioned: there is no datastore at ${datastorePath}`
        : `Host is not provisioned: its servicing state is ${status.servicingState}`,
      Code.FailedPrecondition,
    );

  return {
    getServicingState() {
      const status = recorded();
      if (status !== undefined) return { state: WIRE_STATE[status.servicingState] };
      return {
        state: manager.snapshot.installed ? ServicingState.INSTALL_FINALIZED : ServicingState.NOT_PROVISIONED,
      };
    },
    getActiveVolume() {
      const volume = recorded()?.abActiveVolume;
      return { activeVolume: volume === undefined ? ABVolumeState.NO_VOLUME : WIRE_VOLUME[volume] };
    },
    getLastError() {
      const status = recorded();
      if (status !== undefined)
        return status.lastError === undefined ? {} : { error: wireError(status.lastError) };
      const last = manager.snapshot.lastError;
      return last === undefined ? {} : { error: toProtoError(last) };
    },
    /**
     * The configuration the host runs: `spec` once provisioned; during an update or rollback the
     * one from before it (`specOld`), until commit makes the new one current.
     */
    getProvisionedConfig() {
      const status = recorded();
      if (status === undefined || NOT_YET_PROVISIONED.includes(status.servicingState))
        throw notProvisioned(status);
      return configResponse(
        status.servicingState === 'provisioned' ? status.spec : (status.specOld ?? status.spec),
      );
    },
    /** The configuration being applied by the servicing in progress (`spec` in any other state). */
    getServicingConfig() {
      const status = recorded();
      if (status === undefined) throw notProvisioned(status);
      if (status.servicingState === 'provisioned' || status.servicingState === 'not-provisioned')
        throw new ConnectError(
          `No servicing is in progress: the servicing state is ${status.servicingState}`,
          Code.FailedPrecondition,
        );
      return configResponse(status.spec);
    },
  };
}
