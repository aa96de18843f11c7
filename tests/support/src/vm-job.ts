/**
 * Jobs for the fixture OS's trident-test-marker unit (tools/fixtures/guest): a job is a shell script
 * (plus files) packed as a tar onto a small virtio disk with serial `trident-job`; the unit runs it
 * once per boot, prints its output on the serial console between `TRIDENT-JOB-BEGIN <id>` and
 * `TRIDENT-JOB-END <id> rc=N`, and writes what the job left in `$TRIDENT_RESULTS` (plus `output.log`
 * and `rc`) as a tar onto the virtio disk with serial `trident-results`.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const JOB_DISK_SERIAL = 'trident-job';
export const RESULTS_DISK_SERIAL = 'trident-results';

export interface VmJob {
  /** Shown in the BEGIN/END markers; tells jobs of successive boots apart. Default `job`. */
  id?: string;
  /** Bash script run as root in the extracted job directory (`$TRIDENT_JOB_DIR`). */
  script: string;
  /** More files for the job directory: relative path → content. */
  files?: Record<string, string | Uint8Array>;
  /** What the guest does after the job: power off (default), reboot, or stay up. */
  after?: 'poweroff' | 'reboot' | 'none';
}

/** Writes the job disk image (a tar, padded by tar to 512-byte records) and returns its path. */
export async function writeJobDisk(job: VmJob, path: string): Promise<string> {
  const stage = await mkdtemp(join(dirname(path), '.job-'));
  try {
    const files: Record<string, string | Uint8Array> = {
      ...job.files,
      'job.sh': job.script,
      id: job.id ?? 'job',
      after: job.after ?? 'poweroff',
    };
    for (const [name, content] of Object.entries(files)) {
      if (name.startsWith('/') || name.split('/').includes('..'))
        throw new Error(`job file name ${JSON.stringify(name)} must be a relative path inside the job`);
      await mkdir(dirname(join(stage, name)), { recursive: true });
      await writeFile(join(stage, name), content, { mode: 0o755 });
    }
    await run('tar', ['--owner=0', '--group=0', '-cf', path, '-C', stage, '.']);
    return path;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** An empty results disk of `mib` MiB (all zeros reads back as an empty tar). */
export async function writeResultsDisk(path: string, mib: number): Promise<string> {
  await writeFile(path, '');
  await truncate(path, mib * 1024 * 1024);
  return path;
}

/** Files the job left on the results disk: relative path → bytes (empty when it wrote none). */
export async function readResultsDisk(path: string): Promise<Map<string, Buffer>> {
  const out = await mkdtemp(join(dirname(path), '.results-'));
  const files = new Map<string, Buffer>();
  try {
    await run('tar', ['-xf', path, '-C', out]);
    const walk = async (dir: string, prefix: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
        if (entry.isDirectory()) await walk(join(dir, entry.name), rel);
        else if (entry.isFile()) files.set(rel, await readFile(join(dir, entry.name)));
      }
    };
    await walk(out, '');
    return files;
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

export interface BootMarker {
  versionId: string;
  hostname: string;
  rootDevice: string;
  /** From the TRIDENT-BOOT-FACTS line when it was printed. */
  facts: Record<string, string>;
}

export interface JobOutput {
  id: string;
  rc: number;
  /** The job's combined stdout and stderr as it appeared on the console. */
  output: string;
}

/** The value of a `name=value` line a job printed (jobs report what tests compare this way). */
export function jobFact(output: string, name: string): string | undefined {
  return new RegExp(`^${name}=(.*)$`, 'mu').exec(output)?.[1];
}

/** A file the job left in `$TRIDENT_RESULTS`, as text (`''` when it left none). */
export function jobFile(job: { results: Map<string, Buffer> }, name: string): string {
  return job.results.get(name)?.toString() ?? '';
}

/** Serial text without carriage returns and terminal escapes (OVMF and agetty send both). */
export function cleanSerial(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escapes are control characters
  return text.replace(/\r/gu, '').replace(/\u001b\[[0-9;=?]*[A-Za-z]/gu, '');
}

/** Every boot marker in the serial text, oldest first. */
export function parseBootMarkers(serial: string): BootMarker[] {
  const markers: BootMarker[] = [];
  const lines = cleanSerial(serial).split('\n');
  for (const [i, line] of lines.entries()) {
    const match = /TRIDENT-BOOT-OK (\S+) (\S+) (\S+)/u.exec(line);
    if (!match) continue;
    const facts: Record<string, string> = {};
    // The marker unit prints the facts right after the marker, but other console output can come
    // in between: getty's autologin banner (seen: the facts six lines down on the UKI fixture),
    // kernel messages such as the RCU stalls of a TCG guest starved of CPU. The facts are the
    // first line that has them before the next boot's marker.
    const rest = lines.slice(i + 1);
    const end = rest.findIndex((l) => l.includes('TRIDENT-BOOT-OK '));
    const next = (end < 0 ? rest : rest.slice(0, end)).find((l) => l.includes('TRIDENT-BOOT-FACTS'));
    for (const pair of next?.replace(/^.*TRIDENT-BOOT-FACTS /u, '').split(' ') ?? []) {
      const at = pair.indexOf('=');
      if (at > 0) facts[pair.slice(0, at)] = pair.slice(at + 1);
    }
    markers.push({ versionId: match[1]!, hostname: match[2]!, rootDevice: match[3]!, facts });
  }
  return markers;
}

/** Every completed job in the serial text, oldest first. */
export function parseJobOutputs(serial: string): JobOutput[] {
  const jobs: JobOutput[] = [];
  const text = cleanSerial(serial);
  const pattern = /TRIDENT-JOB-BEGIN (\S+)\n([\s\S]*?)TRIDENT-JOB-END \1 rc=(\d+)/gu;
  for (const match of text.matchAll(pattern))
    jobs.push({ id: match[1]!, output: match[2]!, rc: Number(match[3]) });
  return jobs;
}
