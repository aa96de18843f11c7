/** The root `HostConfiguration` schema and the types derived from it. */
import * as z from 'zod/mini';
import { opt, struct } from '../scalars.ts';
import { ManagementOsSchema, OsSchema } from './os.ts';
import { HealthSchema, ImageSchema, InternalParamsSchema, ScriptsSchema, TridentSchema } from './sections.ts';
import { type FileSystemSchema, StorageSchema } from './storage.ts';

export const HostConfigurationSchema = struct({
  trident: z.prefault(TridentSchema, {}),
  storage: z.prefault(StorageSchema, {}),
  scripts: z.prefault(ScriptsSchema, {}),
  os: z.prefault(OsSchema, {}),
  managementOs: z.prefault(ManagementOsSchema, {}),
  internalParams: z.prefault(InternalParamsSchema, {}),
  image: opt(ImageSchema),
  health: z.prefault(HealthSchema, {}),
});

/** A parsed Host Configuration with every default materialised. */
export type HostConfiguration = z.output<typeof HostConfigurationSchema>;
/** What a user may write (before defaults). */
export type HostConfigurationInput = z.input<typeof HostConfigurationSchema>;
export type Storage = HostConfiguration['storage'];
export type Disk = Storage['disks'][number];
export type Partition = Disk['partitions'][number];
export type FileSystem = z.output<typeof FileSystemSchema>;
export type VerityDevice = Storage['verity'][number];
