/**
 * The agent bundle and .deb (tools/package.sh) for tests that run the agent inside VMs. Rebuilt
 * when any source that goes into it is newer than the .deb in dist/; the build is reproducible,
 * so fixture disks keyed by the .deb's bytes stay cached until the agent really changes.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { withLock } from './vm-cache.ts';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../../..');
/** What goes into the bundle; tests and READMEs don't. */
const INPUT_DIRS = ['apps/cli', 'apps/daemon', 'packages', 'native', 'packaging'];
const INPUT_FILES = ['tools/package.sh', 'pnpm-lock.yaml', 'package.json'];

export interface AgentPackage {
  version: string;
  /** dist/trident-<version>-linux-x64.tar.gz */
  tarball: string;
  /** dist/trident-ts_<version>_amd64.deb */
  deb: string;
}

export function agentPackagePaths(outDir = join(REPO, 'dist')): AgentPackage {
  const cli = JSON.parse(readFileSync(join(REPO, 'apps/cli/package.json'), 'utf8')) as { version: string };
  return {
    version: cli.version,
    tarball: join(outDir, `trident-${cli.version}-linux-x64.tar.gz`),
    deb: join(outDir, `trident-ts_${cli.version}_amd64.deb`),
  };
}

async function newestInput(): Promise<number> {
  const { stdout } = await run(
    'git',
    ['ls-files', '-co', '--exclude-standard', '--', ...INPUT_DIRS, ...INPUT_FILES],
    { cwd: REPO, maxBuffer: 16 * 1024 * 1024 },
  );
  let newest = 0;
  for (const file of stdout.split('\n')) {
    if (file === '' || /\.test\.ts$|\/test-support\/|\.md$/u.test(file)) continue;
    const mtime = statSync(join(REPO, file), { throwIfNoEntry: false })?.mtimeMs ?? 0;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

/** The bundle and .deb of the current sources, built by tools/package.sh when stale. */
export async function ensureAgentPackage(
  options: { log?: (line: string) => void } = {},
): Promise<AgentPackage> {
  const paths = agentPackagePaths();
  return withLock('agent-package', async () => {
    const built = existsSync(paths.deb) && existsSync(paths.tarball) ? statSync(paths.deb).mtimeMs : 0;
    if (built > 0 && built >= (await newestInput())) return paths;
    options.log?.('building the agent bundle and .deb (tools/package.sh)');
    try {
      await run('bash', [join(REPO, 'tools/package.sh')], { cwd: REPO, maxBuffer: 64 * 1024 * 1024 });
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; message: string };
      throw new Error(`tools/package.sh failed: ${e.stderr?.trim() || e.message}\n${e.stdout ?? ''}`);
    }
    return paths;
  });
}
