/**
 * `os.additionalFiles` (upstream `subsystems/hooks.rs` `configure`): each file is written at its
 * `destination` in the new root, parents created, from inline `content` or from `source`, a file on
 * the servicing OS (upstream reads it at Prepare, before storage is touched; here it is read when
 * the step runs, still from the servicing OS). Mode: `permissions` (octal string) if given, else
 * the source file's mode, else 0664.
 */
import { readFile, stat } from 'node:fs/promises';
import { OsConfigError, reason } from './errors.ts';
import { writeFileInRoot } from './root-files.ts';
import { done, type StepContext, type StepOutcome, skipped } from './step.ts';

const DEFAULT_MODE = 0o664;

export async function writeAdditionalFiles(ctx: StepContext): Promise<StepOutcome> {
  const files = ctx.config.os.additionalFiles;
  if (files.length === 0) return skipped('no os.additionalFiles');
  for (const file of files) {
    const fail = (why: string, cause?: unknown): OsConfigError =>
      new OsConfigError(
        'OS_CONFIG_ADDITIONAL_FILE',
        `cannot write additional file '${file.destination}': ${why}`,
        {
          cause,
        },
      );
    let content: string | Uint8Array;
    let sourceMode: number | undefined;
    if (file.content !== undefined) content = file.content;
    else if (file.source !== undefined) {
      try {
        content = await readFile(file.source);
        sourceMode = (await stat(file.source)).mode & 0o7777;
      } catch (error) {
        throw fail(`cannot read its source '${file.source}' on the servicing OS: ${reason(error)}`, error);
      }
    } else throw fail('it has neither content nor source');
    let mode = sourceMode ?? DEFAULT_MODE;
    if (file.permissions !== undefined) {
      if (!/^[0-7]{1,4}$/u.test(file.permissions))
        throw fail(`permissions '${file.permissions}' is not an octal mode`);
      mode = Number.parseInt(file.permissions, 8);
    }
    try {
      await writeFileInRoot(ctx.root, file.destination, content, mode);
    } catch (error) {
      if (error instanceof OsConfigError) throw error;
      throw fail(reason(error), error);
    }
    ctx.log(
      'debug',
      'additional-files',
      `wrote ${file.destination} (mode ${mode.toString(8).padStart(4, '0')})`,
    );
  }
  return done(`wrote ${files.length} additional file(s)`);
}
