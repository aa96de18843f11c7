/**
 * The boot side of an A/B update of a standalone-UKI image (upstream `engine/boot/uki.rs`;
 * reference servicing.md §4 "UKI / systemd-boot", §7). The UKI carries its command line signed
 * inside it, so nothing is rewritten: switching volumes is choosing a file of `/EFI/Linux`.
 *
 * - stage: the image's UKI is checked against the update volume (its embedded root must be the
 *   volume's: gpt-auto, its PARTUUID, or `root=UUID=` of the root filesystem image written), the
 *   update volume's old UKIs are removed (never the one the running OS booted), and the new one is
 *   copied as `EFI/Linux/vmlinuz-0.efi.staged`, which systemd-boot does not list;
 * - finalize: the running volume's entry is pinned as `LoaderEntryDefault` when nothing is (so
 *   the new UKI, listed from the rename on, is not booted by systemd-boot's own order), the staged
 *   UKI is renamed `vmlinuz-<N>-<slot>.efi` (`azlb0`, `azla1`: upstream's slot and install
 *   index), `ab-update-finalized` is recorded, and `LoaderEntryOneShot` names the new UKI: one
 *   trial boot. Commit makes it the default.
 */
import {
  type BootTarget,
  type EspVolume,
  type FinalizedUki,
  finalizeVolumeUki,
  findVolumeUki,
  readLoaderEntryDefault,
  readLoaderEntrySelected,
  type StagedUki,
  setLoaderEntryDefault,
  setLoaderEntryOneShot,
  stageVolumeUki,
  ukiSlot,
} from '@trident/boot-config';
import type { AbVolume, Datastore } from '@trident/datastore';
import { step } from '../host/configure-os.ts';
import type { RunSession } from '../phases/run-session.ts';

const letter = (volume: AbVolume): 'a' | 'b' => (volume === 'volume-a' ? 'a' : 'b');

export interface UkiStageInputs {
  /** The new image's ESP and the host's. */
  image: EspVolume;
  esp: EspVolume;
  installIndex: number;
  /** The volume being updated. */
  volume: AbVolume;
  /** Its devices: what the UKI's embedded command line must name. */
  target: BootTarget;
  efivarsDir: string;
  log: (message: string) => void;
}

/** Stage: the update volume's UKI, staged on the ESP under a name systemd-boot does not list. */
export async function stageUkiVolume(inputs: UkiStageInputs): Promise<StagedUki> {
  const booted = await readLoaderEntrySelected({ efivarsDir: inputs.efivarsDir });
  const staged = await stageVolumeUki({
    image: inputs.image,
    esp: inputs.esp,
    installIndex: inputs.installIndex,
    volume: letter(inputs.volume),
    target: inputs.target,
    ...(booted === undefined ? {} : { booted }),
  });
  if (staged.removed.length > 0)
    inputs.log(`ESP: removed ${staged.removed.join(', ')} (the ${inputs.volume} UKIs this update replaces)`);
  inputs.log(
    `ESP: ${staged.written.join(', ')} from ${staged.source} (embedded command line: ${staged.cmdline || 'none'})`,
  );
  return staged;
}

/** Whether stage left a UKI for the volume: a finalize-only run (no image) tells the boot kind so. */
export async function hasVolumeUki(esp: EspVolume, installIndex: number, volume: AbVolume): Promise<boolean> {
  return (await findVolumeUki({ esp, installIndex, volume: letter(volume) })) !== undefined;
}

export interface UkiFinalizeInputs {
  esp: EspVolume;
  installIndex: number;
  volume: AbVolume;
  efivarsDir: string;
  log: (message: string) => void;
}

/**
 * Finalize, before the state is recorded: keeps the running volume the default, then gives the
 * staged UKI its name (a rerun finds the name given before). Returns the new UKI's entry id.
 */
export async function placeStagedUki(inputs: UkiFinalizeInputs): Promise<FinalizedUki> {
  const variables = { efivarsDir: inputs.efivarsDir };
  if ((await readLoaderEntryDefault(variables)) === undefined) {
    const selected = await readLoaderEntrySelected(variables);
    if (selected === undefined)
      inputs.log(
        'LoaderEntrySelected is unset (not booted by systemd-boot?): LoaderEntryDefault left unset, so a failed trial boot falls back to systemd-boot’s own default',
      );
    else {
      // With no default set, systemd-boot boots the newest-sorting entry: from the rename on, the
      // new UKI. Pinning the running one keeps an unplanned reboot, and a failed trial, on it.
      inputs.log(`LoaderEntryDefault is unset: setting it to the running entry ${selected}`);
      await setLoaderEntryDefault(selected, variables);
    }
  }
  const placed = await finalizeVolumeUki({
    esp: inputs.esp,
    installIndex: inputs.installIndex,
    volume: letter(inputs.volume),
  });
  inputs.log(
    placed.renamed
      ? `ESP: the staged UKI is now /EFI/Linux/${placed.id}`
      : `ESP: /EFI/Linux/${placed.id} was placed by an earlier finalize`,
  );
  return placed;
}

/**
 * The whole finalize of a UKI volume (run-update.ts): named with the running entry pinned, the
 * state recorded, then the one-shot, each a logged step.
 */
export async function finalizeUkiVolume(
  inputs: Omit<UkiFinalizeInputs, 'log'> & { store: Datastore; session: RunSession },
): Promise<void> {
  const { store, session, volume } = inputs;
  const placed = await step(
    session,
    'update-uki',
    `Naming the staged ${volume} UKI ${volumeUkiPattern(inputs.installIndex, volume)} on the ESP`,
    () => placeStagedUki({ ...inputs, log: (message) => session.log('info', message) }),
  );
  if (store.current().servicingState === 'ab-update-staged') store.apply({ type: 'ab-update-finalized' });
  await step(
    session,
    'set-efi-variable',
    `Setting LoaderEntryOneShot to ${placed.id} (one trial boot of ${volume})`,
    () => setLoaderEntryOneShot(placed.id, { efivarsDir: inputs.efivarsDir }),
  );
  session.log(
    'info',
    `A/B update finalized: the next boot tries ${placed.id} (${volume}); trident commit at boot makes it the default`,
  );
}

/** The UKI names of a volume, for messages (`vmlinuz-<N>-azlb0.efi`). */
export function volumeUkiPattern(installIndex: number, volume: AbVolume): string {
  return `vmlinuz-<N>-${ukiSlot(installIndex, letter(volume))}.efi`;
}
