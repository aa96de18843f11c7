/**
 * Where the datastore is: Trident reads `DatastorePath=<path>` from `/etc/trident/trident.conf`
 * (the last such line wins; no file means the default), reference servicing.md §6. The CLI and the
 * daemon resolve it here so both look in the same place.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DEFAULT_DATASTORE_PATH } from './datastore.ts';
import { DatastoreError } from './errors.ts';

export const AGENT_CONFIG_PATH = '/etc/trident/trident.conf';

/** The datastore path `text` (a trident.conf) names, or undefined when it names none. */
export function datastorePathFromAgentConfig(text: string): string | undefined {
  let path: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('DatastorePath=')) {
      const value = line.slice('DatastorePath='.length).trim();
      if (value !== '') path = value;
    }
  }
  return path;
}

/**
 * The datastore to use: the explicit one, else the agent configuration's, else Trident's
 * default. An unreadable agent configuration counts as absent, as in Trident.
 */
export function resolveDatastorePath(
  explicit: string | undefined,
  agentConfigPath: string = AGENT_CONFIG_PATH,
): string {
  if (explicit !== undefined && explicit !== '') return explicit;
  let text: string;
  try {
    text = readFileSync(agentConfigPath, 'utf8');
  } catch {
    return DEFAULT_DATASTORE_PATH;
  }
  return datastorePathFromAgentConfig(text) ?? DEFAULT_DATASTORE_PATH;
}

export interface AgentConfigOptions {
  /** The new root's `/` is a dm-verity volume: nothing may be added to its `/etc` at install. */
  rootVerity?: boolean | undefined;
}

/**
 * Makes the OS installed under `root` look for its datastore where the Host Configuration put it
 * (`trident.datastorePath`), as Trident's management subsystem does when it configures the new
 * root: an image that already carries a trident.conf must name the same path (its first
 * `DatastorePath=` line, or the default); without one, a file is written only for a non-default
 * path, and not at all into a verity root (the image must carry it). Returns what it did.
 */
export function configureAgentConfig(
  root: string,
  datastorePath: string,
  options: AgentConfigOptions = {},
): 'kept' | 'written' | 'not-needed' {
  const file = join(root, AGENT_CONFIG_PATH);
  if (existsSync(file)) {
    let configured = DEFAULT_DATASTORE_PATH;
    try {
      const line = readFileSync(file, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('DatastorePath='));
      if (line !== undefined) configured = line.slice('DatastorePath='.length).trim();
    } catch {
      // Unreadable: Trident skips the comparison too.
      return 'kept';
    }
    if (configured !== datastorePath)
      throw new DatastoreError(
        'DATASTORE_AGENT_CONFIG_MISMATCH',
        `the image's ${AGENT_CONFIG_PATH} puts the datastore at ${configured}, but the Host Configuration says ${datastorePath} (trident.datastorePath)`,
        { path: file },
      );
    return 'kept';
  }
  if (datastorePath === DEFAULT_DATASTORE_PATH) return 'not-needed';
  if (options.rootVerity)
    throw new DatastoreError(
      'DATASTORE_AGENT_CONFIG_MISMATCH',
      `the image has no ${AGENT_CONFIG_PATH} and its root filesystem is verity-protected, so the non-default datastore path ${datastorePath} cannot be recorded; build the image with DatastorePath=${datastorePath} in it`,
      { path: file },
    );
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `DatastorePath=${datastorePath}\n`);
  } catch (error) {
    throw new DatastoreError('DATASTORE_WRITE_FAILED', `cannot write ${file}: ${(error as Error).message}`, {
      path: file,
      cause: error,
    });
  }
  return 'written';
}
