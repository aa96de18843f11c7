/**
 * OS configuration of a new root, in upstream's order (servicing.md §0-§3): Validate (script
 * paths), Provision on the servicing OS (machine-id, postProvision scripts), then Configure in the
 * chroot by subsystem — storage (fstab, crypttab, mdadm.conf), network (netplan), os-config (users,
 * hostname, services, modules, SELinux mode), hooks (additional files, postConfigure scripts).
 * Boot configuration, initrd and extensions are other packages' steps.
 */

import { writeAdditionalFiles } from './additional-files.ts';
import { rootIsVerity } from './fstab.ts';
import { setHostname } from './hostname.ts';
import { setUpMachineId } from './machine-id.ts';
import { configureModules } from './modules.ts';
import { writeNetplan } from './netplan.ts';
import { runPostConfigureScripts, runPostProvisionScripts, validateScriptPaths } from './scripts.ts';
import { setSelinuxMode } from './selinux.ts';
import { configureServices } from './services.ts';
import { createStepContext, runStep, type StepContext, type StepOutcome, skipped } from './step.ts';
import { writeCrypttab, writeFstab, writeMdadmConf } from './storage-files.ts';
import type { Config, OsConfigOptions, OsConfigStepName, StorageLayout } from './types.ts';
import { setUpUsers } from './users.ts';

type Body = (ctx: StepContext) => Promise<StepOutcome>;

const PROVISION: ReadonlyArray<[OsConfigStepName, Body]> = [
  ['machine-id', setUpMachineId],
  ['post-provision-scripts', runPostProvisionScripts],
];

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
  ['additional-files', writeAdditionalFiles],
  ['post-configure-scripts', runPostConfigureScripts],
];

function context(root: string, config: Config, layout: StorageLayout, options: OsConfigOptions): StepContext {
  return createStepContext(
    root,
    config,
    layout,
    options.servicingType ?? 'clean-install',
    options.onLog,
    options.signal,
  );
}

/** Provision: steps on the servicing OS with the new root mounted at `root`. */
export async function provisionNewRoot(
  root: string,
  config: Config,
  layout: StorageLayout,
  options: OsConfigOptions = {},
): Promise<void> {
  const ctx = context(root, config, layout, options);
  for (const [name, body] of PROVISION) await runStep(name, 'provision', ctx, options.onStep, body);
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
