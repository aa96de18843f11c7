/**
 * trident.v1preview.StatusService, from this daemon's memory (there is no datastore): the state is
 * NOT_PROVISIONED until an operation succeeded, then INSTALL_FINALIZED. Like Trident's read RPCs
 * it answers UNAVAILABLE "Servicing is active" while an operation runs.
 */
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import {
  ABVolumeState,
  ServicingState,
  type StatusService,
} from '../gen/trident/v1preview/status_service_pb.ts';
import type { ServicingManager } from '../servicing-manager.ts';
import { toProtoError } from '../wire.ts';

export function createStatusService(manager: ServicingManager): ServiceImpl<typeof StatusService> {
  const readLock = () => {
    if (manager.current !== undefined) throw new ConnectError('Servicing is active', Code.Unavailable);
  };
  const noConfig = (what: string) => () => {
    throw new ConnectError(
      `${what} is not implemented: trident-ts keeps no datastore of Host Configurations.`,
      Code.Unimplemented,
    );
  };
  return {
    getServicingState() {
      readLock();
      return {
        state: manager.snapshot.installed ? ServicingState.INSTALL_FINALIZED : ServicingState.NOT_PROVISIONED,
      };
    },
    getLastError() {
      readLock();
      const last = manager.snapshot.lastError;
      return last === undefined ? {} : { error: toProtoError(last) };
    },
    getActiveVolume() {
      readLock();
      return { activeVolume: ABVolumeState.NO_VOLUME };
    },
    getProvisionedConfig: noConfig('GetProvisionedConfig'),
    getServicingConfig: noConfig('GetServicingConfig'),
  };
}
