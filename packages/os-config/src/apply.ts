/**
 * OS configuration of a new root, in upstream's order (servicing.md §0-§3): Validate (script
 * paths), Provision on the servicing OS (machine-id, extension images, postProvision scripts), then Configure in the
 * chroot by subsystem: storage (fstab, crypttab, mdadm.conf), network (netplan), os-config (users,
 * hostname, services, modules, SELinux mode), management (agent configuration), hooks (additional
 * files, postConfigure scripts); SELinux relabelling comes last, after the initrd. Boot
 * configuration and initrd are other packages' steps.
 */

import { writeAdditionalFiles } from './additional-files.ts';
import { configureAgent } from './agent-config.ts';
import { OsConfigError } from './errors.ts';
import { provisionExtensions } from './extensions/provision-step.ts';
import { rootIsVerity } from './fstab.ts';
import { setHostname } from './hostname.ts';
import { setUpMachineId } from './machine-id.ts';
import { configureModules } from './modules.ts';
import { writeNetplan } from './netplan.ts';
import { runPostConfigureScripts, runPostProvisionScripts, validateScriptPaths } from './scripts.ts';
import { setSelinuxMode } from './selinux.ts';
import { relabelSelinux } from './selinux-relabel.ts';
import { configureServices } from './services.ts';
import { createStepContext, runStep, type StepContext, type StepOutcome, skipped } from './step.ts';
import { writeCrypttab, writeFstab, writeMdadmConf } from './storage-files.ts';
import type { Config, OsConfigOptions, OsConfigStepName, ServicingType, StorageLayout } from './types.ts';
import { setUpUsers } from './users.ts';

type Body = (ctx: StepContext) => Promise<StepOutcome>;

/** Upstream's Provision order: os-config (machine-id), extensions, then hooks (postProvision). */
function provisionSteps(options: OsConfigOptions): ReadonlyArray<[OsConfigStepName, Body]> {
  return [
    ['machine-id', setUpMachineId],
    ['extensions', (ctx) => provisionExtensions(ctx, options)],
    ['post-provision-scripts', runPostProvisionScripts],
  ];
}

/** Steps upstream skips for a UKI image with a verity root (its /etc is read-only). */
const SKIPPED_FOR_UKI_VERITY = new Set<OsConfigStepName>([
  'fstab',
  'crypttab',
  'mdadm-conf',
  'users',
  'hostname',
  'services',
  'modules',
  'selinux',
]);

const CONFIGURE: ReadonlyArray<[OsConfigStepName, Body]> = [
  ['fstab', writeFstab],
  ['crypttab', writeCrypttab],
  ['mdadm-conf', writeMdadmConf],
  ['netplan', writeNetplan],
  ['users', setUpUsers],
  ['hostname', setHostname],
  ['services', configureServices],
  ['modules', configureModules],
  ['selinux', setSelinuxMode],
  ['agent-config', configureAgent],
  ['additional-files', writeAdditionalFiles],
  ['post-configure-scripts', runPostConfigureScripts],
];

/**
 * Servicing types that configure a new root (upstream: storage and hooks run on these only). A
 * runtime update instead applies netplan live and enables extension services on the running OS,
 * and a manual rollback reconfigures nothing on disk: neither is done here.
 */
const NEW_ROOT_SERVICING: ReadonlySet<ServicingType> = new Set(['clean-install', 'ab-update']);

function context(root: string, config: Config, layout: StorageLayout, options: OsConfigOptions): StepContext {
  const servicingType = options.servicingType ?? 'clean-install';
  if (!NEW_ROOT_SERVICING.has(servicingType))
    throw new OsConfigError(
      'OS_CONFIG_UNSUPPORTED_SERVICING',
      `OS configuration of a new root is for clean-install and ab-update, not ${servicingType}: a runtime update (live netplan apply, extension services) is not implemented here`,
    );
  return createStepContext(root, config, layout, servicingType, options.onLog, options.signal);
}

/** Provision: steps on the servicing OS with the new root mounted at `root`. */
export async function provisionNewRoot(
  root: string,
  config: Config,
  layout: StorageLayout,
  options: OsConfigOptions = {},
): Promise<void> {
  const ctx = context(root, config, layout, options);
  for (const [name, body] of provisionSteps(options))
    await runStep(name, 'provision', ctx, options.onStep, body);
}

/**
 * Configure: steps that change files of the new root and run its tools chrooted. The chroot needs
 * /dev, /proc, /sys (see `mountChrootFilesystems`), which the caller mounts.
 */
export async function configureNewRoot(
  root: string,
  config: Config,
  layout: StorageLayout,
  options: OsConfigOptions = {},
): Promise<void> {
  const ctx = context(root, config, layout, options);
  const ukiVerity = options.bootKind === 'uki' && rootIsVerity(config);
  for (const [name, body] of CONFIGURE) {
    const run: Body =
      ukiVerity && SKIPPED_FOR_UKI_VERITY.has(name)
        ? async () => {
            ctx.log(
              'warn',
              name,
              'OS configuration of a UKI image with a verity root is skipped, as upstream does',
            );
            return skipped('UKI image with a verity root: /etc is read-only');
          }
        : body;
    await runStep(name, 'configure', ctx, options.onStep, run);
  }
}

/**
 * SELinux relabelling, upstream's last step of Configure: the engine calls it after everything
 * that writes files into the new root (initrd included), so every file gets its label.
 */
export async function relabelNewRoot(
  root: string,
  config: Config,
  layout: StorageLayout,
  options: OsConfigOptions = {},
): Promise<void> {
  const ctx = context(root, config, layout, options);
  await runStep('selinux-relabel', 'configure', ctx, options.onStep, (c) =>
    relabelSelinux(c, options.bootKind),
  );
}

/** Validate, Provision, Configure: everything this package does for one servicing of a new root. */
export async function applyOsConfig(
  root: string,
  config: Config,
  layout: StorageLayout,
  options: OsConfigOptions = {},
): Promise<void> {
  await validateScriptPaths(config, options.servicingType ?? 'clean-install');
  await provisionNewRoot(root, config, layout, options);
  await configureNewRoot(root, config, layout, options);
}
