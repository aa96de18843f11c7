export { AGENT_CONFIG_PATH, datastorePathFromAgentConfig, resolveDatastorePath } from './agent-config.ts';
export {
  Datastore,
  DEFAULT_AGENT_VERSION,
  DEFAULT_DATASTORE_PATH,
  datastorePathIn,
  type HostStatusRecord,
  type OpenDatastoreOptions,
  openDatastore,
} from './datastore.ts';
export {
  DatastoreError,
  type DatastoreErrorCode,
  type DatastoreErrorDetails,
  isDatastoreError,
  type TridentKindName,
} from './errors.ts';
export {
  AB_VOLUMES,
  type AbVolume,
  checkHostStatus,
  type HostConfigurationDocument,
  type HostStatus,
  hostStatusDocument,
  isServicingState,
  type LastError,
  notProvisioned,
  parseHostStatus,
  SERVICING_STATES,
  type ServicingState,
  serializeHostStatus,
  toYaml,
} from './host-status.ts';
export { failureFromLastError, lastErrorFromFailure, type ServicingFailure } from './last-error.ts';
export { isRollbackCapableVersion, type RollbackChainItem, rollbackChain } from './rollback-chain.ts';
export {
  applyEvent,
  COMMIT_PENDING_STATES,
  canApply,
  type ServicingEvent,
  type ServicingEventType,
} from './transitions.ts';
export { upgradeHostStatus } from './upgrade.ts';
