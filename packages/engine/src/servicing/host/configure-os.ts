/**
 * The OS configuration half of a servicing that writes a new root (clean install, A/B update;
 * reference servicing.md §1 C and §7 stage 4), shared by both kinds: script paths checked and
 * preServicing scripts run before anything is written; then, on the mounted new root, Provision
 * on this machine (machine-id, hostname carry-over, extension images, postProvision scripts), Configure chrooted into
 * it (fstab, netplan, users, hostname, services, modules, SELinux mode, additional files,
 * postConfigure scripts) and, after the caller's boot configuration, the SELinux relabel. Every
 * step is logged; os-config's steps are also reported as they start and end.
 */
import type { CosiMetadata } from '@trident/cosi-format';
import type { HostConfiguration } from '@trident/host-config';
import {
  configureNewRoot,
  mountChrootFilesystems,
  type OsConfigOptions,
  type OsConfigStepEvent,
  provisionNewRoot,
  relabelNewRoot,
  runPreServicingScripts,
  type ServicingType,
  type StorageLayout,
  validateScriptPaths,
} from '@trident/os-config';
import { wrapStep } from '../../errors.ts';
import type { RunSession } from '../phases/run-session.ts';
import type { NewRoot } from './new-root.ts';

export type BootKind = 'grub' | 'systemd-boot' | 'uki';

/** The image's boot flavour: grub, systemd-boot with type #1 entries, or a standalone UKI. */
export function bootKind(metadata: CosiMetadata | undefined): BootKind | undefined {
  const loader = metadata?.bootloader;
  if (!loader) return undefined;
  if (loader.type === 'systemd-boot')
    return loader.systemdBoot?.entries[0]?.type === 'uki-standalone' ? 'uki' : 'systemd-boot';
  return loader.type === 'grub' ? 'grub' : undefined;
}

/** One logged step; a failure becomes SERVICING `subkind` with `what` as its context. */
export async function step<T>(
  session: RunSession,
  subkind: string,
  what: string,
  body: () => Promise<T>,
): Promise<T> {
  session.signal.throwIfAborted();
  session.log('info', what);
  try {
    return await body();
  } catch (error) {
    throw wrapStep('SERVICING_ERROR', subkind, `${what} failed`, error);
  }
}

/** Before anything is written: script paths must exist, then preServicing scripts run (upstream §1 C.2, §7). */
export async function prepareHost(
  config: HostConfiguration,
  servicingType: 'clean-install' | 'ab-update',
  session: RunSession,
): Promise<void> {
  await step(session, 'invalid-script-path', 'Checking the paths of configured scripts', () =>
    validateScriptPaths(config, servicingType),
  );
  await step(session, 'run-pre-servicing-script', 'Running preServicing scripts', () =>
    runPreServicingScripts(config, {
      servicingType,
      onLog: (line) => session.log(line.level, `${line.source}: ${line.message}`),
      signal: session.signal,
    }),
  );
}

export interface OsConfigurationRun {
  /** Relabels for SELinux: run it after boot configuration, last, as upstream's subsystem order. */
  relabel(): Promise<void>;
}

/** Provision and Configure on the mounted new root; returns the relabel to run last. */
export async function configureOs(
  newRoot: NewRoot,
  config: HostConfiguration,
  layout: StorageLayout,
  servicingType: Extract<ServicingType, 'clean-install' | 'ab-update'>,
  kind: BootKind | undefined,
  session: RunSession,
  /**
   * Extension images (the `extensions` Provision step): how URLs are fetched, the running OS's
   * images to copy instead of downloading (A/B update), and where each one was placed.
   */
  extensions: Pick<OsConfigOptions, 'extensionSource' | 'runningExtensions' | 'onExtensionsPlaced'> = {},
): Promise<OsConfigurationRun> {
  const options = {
    ...extensions,
    servicingType,
    bootKind: kind,
    onStep: (event: OsConfigStepEvent) =>
      session.log(
        event.status === 'failed' ? 'error' : event.status === 'started' ? 'debug' : 'info',
        `OS configuration ${event.phase}/${event.step}: ${event.status}${event.detail ? ` (${event.detail})` : ''}`,
      ),
    onLog: (line: { level: 'debug' | 'info' | 'warn'; source: string; message: string }) =>
      session.log(line.level, `${line.source}: ${line.message}`),
    signal: session.signal,
  };
  await step(session, 'provision-new-root', `Provisioning the new root at ${newRoot.path}`, () =>
    provisionNewRoot(newRoot.path, config, layout, options),
  );
  const chroot = await step(
    session,
    'mount-new-root',
    'Mounting /dev, /proc, /sys, /run, /tmp for the chroot',
    () => mountChrootFilesystems(newRoot.path),
  );
  try {
    await step(session, 'configure-new-root', 'Configuring the OS in the new root', () =>
      configureNewRoot(newRoot.path, config, layout, options),
    );
  } finally {
    await chroot.unmount();
  }
  return {
    relabel: () =>
      step(session, 'selinux-relabel', 'Relabelling for SELinux', () =>
        relabelNewRoot(newRoot.path, config, layout, options),
      ),
  };
}
