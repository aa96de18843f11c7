/** A small demo COSI served by a real nginx, optionally rate-limited so a run takes a while. */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCosi } from '@trident/cosi-format';
import { createDemoDiskImage } from '@trident/test-support/disk-image';
import { type NginxServer, startNginx } from '@trident/test-support/nginx';

export interface CosiFixture {
  dir: string;
  nginx: NginxServer;
  /** http URL of the good COSI. */
  url: string;
  /** Same COSI under a location limited to `slowRate` bytes per second. */
  slowUrl: string;
  /** A file that is not a COSI. */
  junkUrl: string;
  metadataSha384: string;
  diskSize: number;
  cleanup(): Promise<void>;
}

export async function createCosiFixture(options: { slowRate?: string } = {}): Promise<CosiFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'tridentd-cosi-'));
  const www = join(dir, 'www');
  await mkdir(join(www, 'slow'), { recursive: true });
  const disk = await createDemoDiskImage({
    path: join(dir, 'disk.img'),
    sizeMiB: 48,
    espMiB: 8,
    rootMiB: 24,
    payloadBytes: 2 * 1024 * 1024,
  });
  const built = await buildCosi({ input: disk.path, output: join(www, 'demo.cosi') });
  await copyFile(join(www, 'demo.cosi'), join(www, 'slow', 'demo.cosi'));
  await writeFile(join(www, 'junk.cosi'), 'this is not a tar archive\n'.repeat(100));
  await rm(disk.path, { force: true });
  const nginx = await startNginx({
    root: www,
    serverConfig: `location /slow/ { limit_rate ${options.slowRate ?? '400k'}; }`,
  });
  return {
    dir,
    nginx,
    url: `${nginx.url}/demo.cosi`,
    slowUrl: `${nginx.url}/slow/demo.cosi`,
    junkUrl: `${nginx.url}/junk.cosi`,
    metadataSha384: built.metadataSha384,
    diskSize: disk.size,
    cleanup: async () => {
      await nginx.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
