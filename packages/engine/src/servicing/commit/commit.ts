/**
 * `trident commit` (upstream `lib.rs` commit, `engine/rollback.rs`; reference servicing.md §8),
 * run at boot by the packaged `trident.service`: when a servicing waits for its first boot, confirm
 * the host came up on the volume it was meant to, run the health checks, make the new boot the
 * default and record the outcome. It is not a `ServicingKind`: it streams no image and has no plan
 * to print, only a short decision over the datastore, so it is one function over the datastore.
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  isVirtdeploy,
  persistCurrentBootOrder,
  readLoaderEntrySelected,
  setLoaderEntryDefault,
} from '@trident/boot-config';
import {
  type AbVolume,
  COMMIT_PENDING_STATES,
  type Datastore,
  type HostStatus,
  lastErrorFromFailure,
  type ServicingState,
} from '@trident/datastore';
import type { HostConfiguration } from '@trident/host-config';
import { runHealthChecks, type ServicingType } from '@trident/os-config';
import { EngineError, toTridentError } from '../../errors.ts';
import { openHostDatastore } from '../host/open-datastore.ts';
import { parseRecordedConfiguration } from '../host/parse-config.ts';
import { refreshUefiFallback } from '../host/uefi-fallback.ts';
import { findEsp, openEsp } from '../rollback/esp-location.ts';
import { currentRootDevice, expectedRoot, isExpectedRoot, type SystemPaths } from './booted-root.ts';
import { efivarsDirOf, efivarsUsable } from './efivars.ts';

export interface CommitOptions extends SystemPaths {
  /** The datastore file (resolved by the caller from `--datastore` or trident.conf). */
  datastorePath: string;
  /** The ESP as a directory (a caller that mounted it; tests); else found from the Host Status. */
  espDir?: string | undefined;
  log?: ((level: 'debug' | 'info' | 'warn' | 'error', message: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export type CommitOutcome =
  /** Nothing waited for a first boot: the state it was in. */
  | { result: 'nothing-to-do'; state: ServicingState }
  /** Booted the expected volume and the checks passed: the host is `provisioned` on it. */
  | { result: 'committed'; activeVolume: AbVolume; checks: string[] }
  /**
   * An A/B update's checks failed: recorded as `ab-update-health-check-failed`; rebooting returns
   * the host to the old volume (the one-shot boot is spent), whose commit records the rollback.
   */
  | { result: 'needs-reboot'; error: EngineError };

const other = (volume: AbVolume | undefined): AbVolume => (volume === 'volume-a' ? 'volume-b' : 'volume-a');

/** What each pending state waits for: the volume that should be running, and what was tested. */
export function expectation(status: HostStatus): {
  volume: AbVolume;
  servicingType: ServicingType | undefined;
  wrongRootSubkind: string;
} {
  switch (status.servicingState) {
    case 'clean-install-finalized':
      return {
        volume: 'volume-a',
        servicingType: 'clean-install',
        wrongRootSubkind: 'clean-install-reboot-check',
      };
    case 'ab-update-finalized':
      return {
        volume: other(status.abActiveVolume),
        servicingType: 'ab-update',
        wrongRootSubkind: 'ab-update-reboot-check',
      };
    case 'manual-rollback-ab-finalized':
      // Upstream runs no health checks after a manual rollback.
      return {
        volume: other(status.abActiveVolume),
        servicingType: undefined,
        wrongRootSubkind: 'manual-rollback-reboot-check',
      };
    default:
      // ab-update-health-check-failed: abActiveVolume never flipped, so it names the old volume,
      // which is where the host should be after the reboot.
      return {
        volume: status.abActiveVolume ?? 'volume-a',
        servicingType: undefined,
        wrongRootSubkind: 'ab-update-reboot-check',
      };
  }
}

/**
 * The Host Configuration install recorded. Install validated it on the servicing OS; some rules look
 * at that machine (the image's file, script paths), so on the booted OS only the schema must hold,
 * as upstream only deserializes the stored spec. Other findings are logged, not fatal.
 */
export function recordedConfiguration(
  status: HostStatus,
  options: { log?: CommitOptions['log'] },
): HostConfiguration {
  return parseRecordedConfiguration(status.spec, {
    what: 'Host Configuration',
    code: 'ENGINE_COMMIT_BAD_SPEC',
    onFinding: (message) => options.log?.('warn', message),
  });
}

/** Upstream keeps the full report of failed checks beside the datastore. */
async function writeFailureLog(datastorePath: string, error: EngineError): Promise<string | undefined> {
  const stamp = new Date().toISOString().replace(/[:.]/gu, '-');
  const path = join(dirname(datastorePath), `trident-health-check-failure-${stamp}.log`);
  return writeFile(path, `${error.tridentError.message}\n`).then(
    () => path,
    () => undefined,
  );
}

async function runChecks(
  config: HostConfiguration,
  servicingType: ServicingType,
  options: CommitOptions,
): Promise<string[] | EngineError> {
  try {
    return await runHealthChecks(config, {
      servicingType,
      signal: options.signal,
      onLog: (log) => options.log?.(log.level, `${log.source}: ${log.message}`),
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    return new EngineError(
      'HEALTH_CHECKS_ERROR',
      'health-checks-failed',
      `health checks failed after ${servicingType}`,
      {
        cause: error,
      },
    );
  }
}

/** The new boot becomes the default: systemd-boot's entry, and for A/B the UEFI BootOrder. */
async function makeBootDefault(
  servicingType: ServicingType | undefined,
  options: CommitOptions,
): Promise<void> {
  const efivarsDir = efivarsDirOf(options.sysDir ?? '/sys');
  const selected = await readLoaderEntrySelected({ efivarsDir });
  if (selected !== undefined) {
    options.log?.('info', `Making the booted boot loader entry ${selected} the default (LoaderEntryDefault)`);
    await setLoaderEntryDefault(selected, { efivarsDir }).catch((error: unknown) => {
      throw new EngineError(
        'SERVICING_ERROR',
        'set-efi-variable',
        `setting LoaderEntryDefault to ${selected} failed`,
        {
          cause: error,
        },
      );
    });
  }
  // Install already put its entry first; an A/B finalize appends, and virtdeploy firmware's order
  // was left alone at finalize: both move the booted label first now (upstream).
  if (servicingType === 'clean-install' && !(await isVirtdeploy(options.sysDir))) return;
  if (!(await efivarsUsable(efivarsDir))) {
    options.log?.('info', `${efivarsDir} is not efivarfs: BootOrder left as it is`);
    return;
  }
  options.log?.('info', 'Moving the booted UEFI entry first in BootOrder');
  await persistCurrentBootOrder(options.signal).catch((error: unknown) => {
    throw new EngineError(
      'SERVICING_ERROR',
      'update-boot-order',
      'moving the booted entry first in BootOrder failed',
      {
        cause: error,
      },
    );
  });
}

/**
 * After an A/B update passed its checks, `EFI/BOOT` follows `os.uefiFallback` (conservative: now
 * the booted volume). Best effort: the fallback only matters once the firmware has lost its
 * entries, and failing the commit of a healthy host over it would leave the update unrecorded.
 */
async function refreshFallbackAfterUpdate(
  config: HostConfiguration,
  status: HostStatus,
  volume: AbVolume,
  options: CommitOptions,
): Promise<void> {
  try {
    const esp = await openEsp(findEsp(config, status), options);
    await refreshUefiFallback(esp, {
      config,
      moment: 'ab-update-commit',
      installIndex: status.installIndex ?? 0,
      runningVolume: volume,
      log: options.log,
    });
  } catch (error) {
    options.log?.(
      'warn',
      `The UEFI fallback path (EFI/BOOT) was not refreshed: ${toTridentError(error).message}`,
    );
  }
}

async function commitPending(store: Datastore, options: CommitOptions): Promise<CommitOutcome> {
  const status = store.current();
  const { volume, servicingType, wrongRootSubkind } = expectation(status);
  const config = recordedConfiguration(status, options);
  const expected = expectedRoot(config, status, volume);
  const current = await currentRootDevice(options);
  const onExpected = await isExpectedRoot(current, expected, options);
  options.log?.(
    'info',
    `Root is ${current}; ${volume} expects ${expected.path} (${expected.deviceId}${expected.verity ? ', verity data' : ''}): ${onExpected ? 'booted as expected' : 'wrong root'}`,
  );

  if (status.servicingState === 'ab-update-health-check-failed') {
    if (!onExpected)
      throw new EngineError(
        'SERVICING_ERROR',
        wrongRootSubkind,
        `after failed health checks the host should be back on ${volume} (${expected.path}), but / is ${current}`,
      );
    store.apply({ type: 'rolled-back-after-health-checks' });
    throw new EngineError(
      'HEALTH_CHECKS_ERROR',
      'ab-update-health-check-commit-check',
      `the A/B update was rolled back: its health checks failed, and the host is running ${volume} again`,
    );
  }
  if (!onExpected) {
    store.apply({ type: 'booted-wrong-root' });
    throw new EngineError(
      'SERVICING_ERROR',
      wrongRootSubkind,
      `the host should have booted ${volume} (${expected.path}), but / is ${current}: the ${status.servicingState} servicing did not take`,
    );
  }

  let checks: string[] = [];
  if (servicingType !== undefined) {
    const result = await runChecks(config, servicingType, options);
    if (result instanceof EngineError) {
      const log = await writeFailureLog(store.path, result);
      if (log !== undefined) options.log?.('error', `Health check report: ${log}`);
      store.apply({ type: 'health-checks-failed', error: lastErrorFromFailure(result.tridentError) });
      if (servicingType === 'ab-update') return { result: 'needs-reboot', error: result };
      throw result;
    }
    checks = result;
  }
  await makeBootDefault(servicingType, options);
  if (servicingType === 'ab-update') await refreshFallbackAfterUpdate(config, status, volume, options);
  const after = store.apply({ type: 'committed' });
  return { result: 'committed', activeVolume: after.abActiveVolume ?? volume, checks };
}

/**
 * Commits what waits for this boot. A missing datastore is `host-not-provisioned` (upstream); a
 * state with nothing pending is `nothing-to-do`. Failures are recorded as `lastError` and thrown as
 * `EngineError`s with Trident's kind and subkind.
 */
export async function commitHost(options: CommitOptions): Promise<CommitOutcome> {
  const store = openHostDatastore(options.datastorePath, { why: 'nothing to commit' });
  try {
    const state = store.current().servicingState;
    if (!COMMIT_PENDING_STATES.includes(state)) {
      options.log?.('info', `No servicing in progress (servicing state ${state}): nothing to commit`);
      return { result: 'nothing-to-do', state };
    }
    return await store.recordOutcome(
      (s) => commitPending(s, options),
      (error) => toTridentError(error),
    );
  } finally {
    store.close();
  }
}
