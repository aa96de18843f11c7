/**
 * Where the datastore is: Trident reads `DatastorePath=<path>` from `/etc/trident/trident.conf`
 * (the last such line wins; no file means the default), reference servicing.md §6. The CLI and the
 * daemon resolve it here so both look in the same place.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_DATASTORE_PATH } from './datastore.ts';

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
