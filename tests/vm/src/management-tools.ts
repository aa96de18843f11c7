/**
 * Tools `trident install` needs on a management OS that the full fixture OS lacks. Boot
 * configuration edits the installed ESP with mtools (it never mounts FAT), and the full fixture's
 * package list has no mtools; this host has it (tools/setup.sh installs it), built for the same
 * Debian release and needing only libc, so the job installs the host's binary into the guest's
 * /usr/local/bin with its applet links. Offline, unlike fetching the package in the test.
 */
import { readFile } from 'node:fs/promises';

const MTOOLS = '/usr/bin/mtools';
const APPLETS = ['mcopy', 'mdel', 'mdir', 'minfo', 'mmd', 'mtype', 'mattrib', 'mformat', 'mlabel', 'mrd'];

export interface ManagementTools {
  files: Record<string, Uint8Array>;
  /** Shell lines that put the tools on the guest's PATH (run from the job directory). */
  script: string[];
}

export async function managementTools(): Promise<ManagementTools> {
  return {
    files: { 'tools/mtools': await readFile(MTOOLS) },
    script: [
      'install -m 0755 "$TRIDENT_JOB_DIR/tools/mtools" /usr/local/bin/mtools',
      `for applet in ${APPLETS.join(' ')}; do ln -sf mtools "/usr/local/bin/$applet"; done`,
    ],
  };
}
