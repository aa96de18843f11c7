import { type CosiReader, openCosi, partitionSize } from '@trident/cosi-format';
import { formatBytes } from '@trident/units';
import { openInput } from '../open-input.ts';
import { type Output, renderTable } from '../output.ts';
import type { SourceFlags } from '../source-options.ts';

/** A summary of a COSI file for people (tables) or machines (`--json`). */
export async function inspectCommand(
  location: string,
  output: Output,
  options: { signal?: AbortSignal; source?: SourceFlags },
): Promise<number> {
  const source = await openInput(location, options);
  const reader = await openCosi(source, options.signal ? { signal: options.signal } : {});
  try {
    const summary = await summarize(reader);
    if (output.json) {
      output.printJson(summary);
      return 0;
    }
    const { metadata } = reader;
    output.line(`COSI ${metadata.version}  ${location}`);
    output.line(`  metadata sha384  ${reader.metadataSha384}`);
    output.line(`  os               ${summary.os} (${metadata.osArch})`);
    output.line(`  bootloader       ${summary.bootloader}`);
    output.line(`  packages         ${metadata.osPackages?.length ?? 'none listed'}`);
    if (metadata.disk) {
      output.line(
        `  disk             ${formatBytes(metadata.disk.size)} (${metadata.disk.size} bytes), ${metadata.disk.type}, LBA ${metadata.disk.lbaSize}`,
      );
    }
    if (metadata.compression) output.line(`  max window log   ${metadata.compression.maxWindowLog}`);
    output.line();
    if (summary.partitions.length > 0) {
      output.line(
        renderTable(
          ['#', 'name', 'type', 'start', 'size', 'fs', 'mount', 'image', 'compressed', 'ratio'],
          summary.partitions.map((p) => [
            p.number,
            p.name,
            p.type,
            formatBytes(p.start),
            formatBytes(p.size),
            p.fsType ?? '-',
            p.mountPoint ?? '-',
            p.image ? formatBytes(p.image.uncompressedSize) : '-',
            p.image ? formatBytes(p.image.compressedSize) : '-',
            p.image && p.image.uncompressedSize > 0
              ? `${((100 * p.image.compressedSize) / p.image.uncompressedSize).toFixed(1)}%`
              : '-',
          ]),
        ),
      );
    } else {
      output.line(
        renderTable(
          ['mount', 'fs', 'uuid', 'image', 'size', 'compressed'],
          metadata.images.map((fs) => [
            fs.mountPoint,
            fs.fsType,
            fs.fsUuid,
            fs.image.path,
            formatBytes(fs.image.uncompressedSize),
            formatBytes(fs.image.compressedSize),
          ]),
        ),
      );
    }
    return 0;
  } finally {
    await reader.close();
  }
}

interface PartitionSummary {
  number: number;
  name: string;
  type: string;
  typeGuid: string;
  start: number;
  size: number;
  fsType: string | undefined;
  fsUuid: string | undefined;
  mountPoint: string | undefined;
  verity: boolean;
  image:
    | { path: string; compressedSize: number; uncompressedSize: number; sha384: string | undefined }
    | undefined;
}

async function summarize(reader: CosiReader) {
  const { metadata } = reader;
  const osRelease = Object.fromEntries(
    metadata.osRelease
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [
        line.slice(0, line.indexOf('=')),
        line.slice(line.indexOf('=') + 1).replace(/^"|"$/gu, ''),
      ]),
  );
  let partitions: PartitionSummary[] = [];
  if (metadata.disk?.gptRegions?.length) {
    const gpt = await reader.gpt();
    partitions = gpt.partitions.map((partition) => {
      const region = metadata.disk?.gptRegions?.find(
        (r) => r.type === 'partition' && r.number === partition.number,
      );
      const fs = metadata.images.find((image) => image.image.path === region?.image.path);
      const verityOf = metadata.images.find((image) => image.verity?.image.path === region?.image.path);
      return {
        number: partition.number,
        name: partition.name,
        type: verityOf
          ? `${partition.typeName ?? partition.typeGuid} (verity of ${verityOf.mountPoint})`
          : (partition.typeName ?? partition.typeGuid),
        typeGuid: partition.typeGuid,
        start: partition.firstLba * gpt.lbaSize,
        size: partitionSize(partition, gpt.lbaSize),
        fsType: fs?.fsType,
        fsUuid: fs?.fsUuid,
        mountPoint: fs?.mountPoint,
        verity: Boolean(fs?.verity),
        image: region
          ? {
              path: region.image.path,
              compressedSize: region.image.compressedSize,
              uncompressedSize: region.image.uncompressedSize,
              sha384: region.image.sha384,
            }
          : undefined,
      };
    });
  }
  return {
    version: metadata.version,
    metadataSha384: reader.metadataSha384,
    osArch: metadata.osArch,
    os: osRelease['PRETTY_NAME'] ?? osRelease['NAME'] ?? 'unknown',
    bootloader: metadata.bootloader
      ? `${metadata.bootloader.type}${metadata.bootloader.systemdBoot ? ` (${metadata.bootloader.systemdBoot.entries.map((e) => e.type).join(', ')})` : ''}`
      : 'not described',
    packages: metadata.osPackages?.length ?? null,
    disk: metadata.disk
      ? { size: metadata.disk.size, lbaSize: metadata.disk.lbaSize, type: metadata.disk.type }
      : null,
    maxWindowLog: metadata.compression?.maxWindowLog ?? null,
    partitions,
    filesystems: metadata.images.map((fs) => ({
      mountPoint: fs.mountPoint,
      fsType: fs.fsType,
      fsUuid: fs.fsUuid,
      partType: fs.partType,
      image: fs.image,
      verity: fs.verity ?? null,
    })),
  };
}
