/**
 * The Python grpcio test client (tests/clients/python, gRPC C-core) packed for a guest without
 * network: a tar, used raw as a virtio disk, holding the client, stubs generated here from our
 * protos, and the venv's runtime packages (grpcio, protobuf, typing_extensions: manylinux wheels
 * for CPython 3.11, the fixture OS's python3). The guest unpacks it with `tar -xf /dev/disk/by-id/…`.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

const CLIENT_DIR = fileURLToPath(new URL('../../clients/python/', import.meta.url));
const PROTOS = fileURLToPath(new URL('../../../apps/daemon/proto/', import.meta.url));
/** The virtio serial of the disk: the guest finds it as /dev/disk/by-id/virtio-trident-pyclient. */
export const PYTHON_CLIENT_DISK_SERIAL = 'trident-pyclient';
/** Where {@link unpackPythonClientScript} puts it in the guest. */
export const GUEST_CLIENT_ROOT = '/opt/trident-pyclient';

/** What the client needs at run time; pip, setuptools and grpc_tools stay behind (stubs are made here). */
const RUNTIME = /^(grpc|google|typing_extensions\.py|grpcio-[^/]*\.dist-info|protobuf-[^/]*\.dist-info)$/u;

export interface PackedPythonClient {
  /** The tar to attach as a raw virtio disk (readOnly, serial {@link PYTHON_CLIENT_DISK_SERIAL}). */
  disk: string;
  /** The host venv's python (what made the stubs). */
  python: string;
}

/** Creates or reuses the client's venv (tests/clients/python/make-venv.sh); resolves with its python. */
export async function pythonClientVenv(): Promise<string> {
  const made = await run('bash', [join(CLIENT_DIR, 'make-venv.sh')], { timeout: 600_000 });
  return made.stdout.trim();
}

/** Packs the client, its generated stubs and the venv's runtime packages into `dir/pyclient.tar`. */
export async function packPythonClientForGuest(dir: string): Promise<PackedPythonClient> {
  const python = await pythonClientVenv();
  const stage = await mkdtemp(join(dir, '.pyclient-'));
  try {
    const stubs = join(stage, 'stubs');
    // The client's own generator (it leaves the `.generated` marker, so the guest never runs protoc).
    await run(
      python,
      [
        '-c',
        'import sys; sys.path.insert(0, sys.argv[1]); import trident_client as c; c.generate_stubs(sys.argv[2], sys.argv[3])',
        CLIENT_DIR,
        PROTOS,
        stubs,
      ],
      { timeout: 300_000 },
    );
    await mkdir(join(stage, 'client'));
    await cp(join(CLIENT_DIR, 'trident_client.py'), join(stage, 'client', 'trident_client.py'));
    const { stdout } = await run(python, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']);
    const sitePackages = stdout.trim();
    const kept = (await readdir(sitePackages)).filter((name) => RUNTIME.test(name));
    if (!kept.includes('grpc') || !kept.includes('google'))
      throw new Error(`the venv at ${sitePackages} lacks grpcio or protobuf (found ${kept.join(', ')})`);
    for (const name of kept)
      await cp(join(sitePackages, name), join(stage, 'site-packages', name), {
        recursive: true,
        filter: (source) => !source.includes('__pycache__'),
      });
    const disk = join(dir, 'pyclient.tar');
    // tar pads to 512-byte records, so the file is a valid raw disk.
    await run('tar', ['--owner=0', '--group=0', '-cf', disk, '-C', stage, '.']);
    return { disk, python };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** Shell lines for a guest job: unpack the client disk to {@link GUEST_CLIENT_ROOT}. */
export function unpackPythonClientScript(): string {
  return `mkdir -p ${GUEST_CLIENT_ROOT} && tar -xf /dev/disk/by-id/virtio-${PYTHON_CLIENT_DISK_SERIAL} -C ${GUEST_CLIENT_ROOT}`;
}

/**
 * The guest's command line for one client command against `socket` (the system python3 with the
 * packed site-packages on PYTHONPATH); append the command and its options, shell-quoted.
 */
export function guestPythonClientCommand(socket: string): string {
  return `PYTHONPATH=${GUEST_CLIENT_ROOT}/site-packages python3 ${GUEST_CLIENT_ROOT}/client/trident_client.py --socket ${socket} --stubs ${GUEST_CLIENT_ROOT}/stubs --protos ${GUEST_CLIENT_ROOT}/protos`;
}
