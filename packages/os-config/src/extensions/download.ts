/**
 * Brings one extension image into the staging directory: streamed from its URL through
 * `@trident/remote-source` (file, block device, HTTP(S) with resumed ranges, OCI), SHA-384 over
 * every byte as it is written, then renamed `<sha384>.raw` only when the hash matched. One temp
 * file in the staging directory is the only copy (upstream `populate_extensions`), and a staged
 * `<sha384>.raw` is always a verified image, so a later run can trust it by name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type OpenSourceOptions, openSource } from '@trident/remote-source';
import { OsConfigError, reason } from '../errors.ts';

export interface DownloadOptions {
  source?: OpenSourceOptions | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Streams `url` into `<stagingDir>/<sha384>.raw` (a host path) and returns that path. A hash
 * mismatch leaves nothing behind and fails with `OS_CONFIG_EXTENSION_HASH_MISMATCH`.
 */
export async function downloadExtension(
  url: string,
  sha384: string,
  stagingDir: string,
  options: DownloadOptions = {},
): Promise<string> {
  const expected = sha384.toLowerCase();
  await mkdir(stagingDir, { recursive: true, mode: 0o700 });
  const partial = join(stagingDir, `.download-${randomBytes(6).toString('hex')}`);
  const final = join(stagingDir, `${expected}.raw`);
  let source: Awaited<ReturnType<typeof openSource>>;
  try {
    source = await openSource(url, {
      ...options.source,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    throw new OsConfigError(
      'OS_CONFIG_EXTENSION_DOWNLOAD',
      `cannot open extension image ${url}: ${reason(error)}`,
      {
        cause: error,
      },
    );
  }
  const hash = createHash('sha384');
  try {
    const file = await open(partial, 'wx', 0o600);
    try {
      for await (const chunk of source.stream(
        0,
        source.size,
        options.signal ? { signal: options.signal } : {},
      )) {
        hash.update(chunk);
        await file.write(chunk);
      }
      await file.sync();
    } finally {
      await file.close();
    }
  } catch (error) {
    await rm(partial, { force: true });
    throw new OsConfigError(
      'OS_CONFIG_EXTENSION_DOWNLOAD',
      `downloading extension image ${url} into ${stagingDir} failed: ${reason(error)}`,
      { cause: error },
    );
  } finally {
    await source.close();
  }
  const actual = hash.digest('hex');
  if (actual !== expected) {
    await rm(partial, { force: true });
    throw new OsConfigError(
      'OS_CONFIG_EXTENSION_HASH_MISMATCH',
      `SHA-384 mismatch for extension image ${url}: the Host Configuration says ${expected}, its ${source.size} bytes hash to ${actual}`,
    );
  }
  await rename(partial, final);
  return final;
}
