/**
 * The installed OS's agent configuration (upstream `subsystems/management.rs`
 * `configure_agent_config`): `/etc/trident/trident.conf` tells the agent where its datastore is
 * (`DatastorePath=`). An image that ships the file must agree with `trident.datastorePath`; without
 * one, it is written only for a non-default path (the default needs no file), and a verity root,
 * whose `/etc` comes read-only from the image, cannot get one.
 */
import { OsConfigError, reason } from './errors.ts';
import { rootIsVerity } from './fstab.ts';
import { readFileInRoot, writeFileInRoot } from './root-files.ts';
import { done, type StepContext, type StepOutcome, skipped } from './step.ts';

export const AGENT_CONFIG_PATH = '/etc/trident/trident.conf';
export const DEFAULT_DATASTORE_PATH = '/var/lib/trident/datastore.sqlite';

export async function configureAgent(ctx: StepContext): Promise<StepOutcome> {
  const wanted = ctx.config.trident.datastorePath;
  const existing = await readFileInRoot(ctx.root, AGENT_CONFIG_PATH);
  if (existing !== undefined) {
    const line = existing.split('\n').find((l) => l.startsWith('DatastorePath='));
    const configured =
      line === undefined ? DEFAULT_DATASTORE_PATH : line.slice('DatastorePath='.length).trim();
    if (configured !== wanted)
      throw new OsConfigError(
        'OS_CONFIG_AGENT_CONFIG_MISMATCH',
        `the image's ${AGENT_CONFIG_PATH} puts the datastore at '${configured}', but trident.datastorePath is '${wanted}'; make them agree`,
      );
    return done(`the image's ${AGENT_CONFIG_PATH} already has the datastore at '${wanted}'`);
  }
  if (wanted === DEFAULT_DATASTORE_PATH)
    return skipped('default datastore path: no agent configuration needed');
  if (rootIsVerity(ctx.config))
    throw new OsConfigError(
      'OS_CONFIG_AGENT_CONFIG_MISMATCH',
      `trident.datastorePath is '${wanted}', but the image has no ${AGENT_CONFIG_PATH} and its verity root cannot get one; ship the file in the image`,
    );
  try {
    await writeFileInRoot(ctx.root, AGENT_CONFIG_PATH, `DatastorePath=${wanted}`, 0o644);
  } catch (error) {
    throw new OsConfigError('OS_CONFIG_AGENT_CONFIG', `cannot write ${AGENT_CONFIG_PATH}: ${reason(error)}`, {
      cause: error,
    });
  }
  return done(`wrote ${AGENT_CONFIG_PATH} (datastore at '${wanted}')`);
}
