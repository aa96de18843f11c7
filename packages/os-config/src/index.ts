export { AGENT_CONFIG_PATH } from './agent-config.ts';
export { applyOsConfig, configureNewRoot, provisionNewRoot, relabelNewRoot } from './apply.ts';
export { type ChrootMounts, mountChrootFilesystems } from './chroot-mounts.ts';
export { CRYPTTAB_PATH, renderCrypttab } from './crypttab.ts';
export { deviceKind, devicePath } from './device-paths.ts';
export {
  type HealthCheckFailure,
  HealthChecksError,
  isOsConfigError,
  OS_CONFIG_CODES,
  type OsConfigCode,
  OsConfigError,
} from './errors.ts';
export * from './extensions/index.ts';
export { FSTAB_PATH, renderFstab, rootIsVerity } from './fstab.ts';
export { type HealthCheckOptions, runHealthChecks } from './health-checks.ts';
export { NETPLAN_FILE, renderNetplan } from './netplan.ts';
export { resolveInRoot } from './root-files.ts';
export {
  applyRuntimeConfiguration,
  applyRuntimeExtensions,
  type RuntimeApplied,
  type RuntimeApplyOptions,
  stageRuntimeExtensions,
} from './runtime.ts';
export {
  runPreServicingScripts,
  runScript,
  type ScriptHook,
  SERVICING_TYPE_ENV,
  shouldRun,
  validateScriptPaths,
} from './scripts.ts';
export { finalSelinuxMode } from './selinux-relabel.ts';
export { MDADM_CONF_PATH } from './storage-files.ts';
export type {
  OsConfigLog,
  OsConfigOptions,
  OsConfigStepEvent,
  OsConfigStepName,
  ServicingType,
  StorageLayout,
} from './types.ts';
export { renderSshdGlobalConfig } from './users.ts';
