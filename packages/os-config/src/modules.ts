/**
 * `os.modules` (upstream `crates/osmodifier/src/modules.rs`): three files the new OS reads at boot,
 * each rewritten whole from its current lines:
 * - `/etc/modules-load.d/modules-load.conf`: modules loaded at boot (`always`);
 * - `/etc/modprobe.d/modules-disabled.conf`: `blacklist <name>` (`disable`);
 * - `/etc/modprobe.d/module-options.conf`: one `options <name> k=v …` line per module, existing
 *   options kept and updated.
 * `always` also un-blacklists and sets options; `auto` un-blacklists and sets options; `disable`
 * refuses options and drops the module from the load list; `inherit` only sets options and refuses
 * them for a module the image blacklists.
 */
import { OsConfigError, reason } from './errors.ts';
import { readFileInRoot, writeFileInRoot } from './root-files.ts';
import { done, type StepContext, type StepOutcome, skipped } from './step.ts';

export const MODULES_LOAD_CONF = '/etc/modules-load.d/modules-load.conf';
export const MODULES_DISABLED_CONF = '/etc/modprobe.d/modules-disabled.conf';
export const MODULE_OPTIONS_CONF = '/etc/modprobe.d/module-options.conf';

export async function configureModules(ctx: StepContext): Promise<StepOutcome> {
  const modules = ctx.config.os.modules;
  if (modules.length === 0) return skipped('no os.modules');
  const load = await lines(ctx, MODULES_LOAD_CONF);
  let disabled = await lines(ctx, MODULES_DISABLED_CONF);
  let options = await lines(ctx, MODULE_OPTIONS_CONF);
  let loadList = load;
  for (const module of modules) {
    const entry = `blacklist ${module.name}`;
    const opts = module.options ?? {};
    const hasOptions = Object.keys(opts).length > 0;
    switch (module.loadMode) {
      case 'always':
        disabled = disabled.filter((l) => l.trim() !== entry);
        if (!loadList.some((l) => l.trim() === module.name)) loadList.push(module.name);
        if (hasOptions) options = mergeOptions(options, module.name, opts);
        break;
      case 'auto':
        disabled = disabled.filter((l) => l.trim() !== entry);
        if (hasOptions) options = mergeOptions(options, module.name, opts);
        break;
      case 'disable':
        if (hasOptions)
          throw new OsConfigError(
            'OS_CONFIG_MODULES',
            `module '${module.name}' has loadMode: disable and options; a disabled module takes no options`,
          );
        loadList = loadList.filter((l) => l.trim() !== module.name);
        if (!disabled.some((l) => l.trim() === entry)) disabled.push(entry);
        break;
      case 'inherit':
        if (!hasOptions) break;
        if (disabled.some((l) => l.trim() === entry))
          throw new OsConfigError(
            'OS_CONFIG_MODULES',
            `module '${module.name}' is blacklisted by the image and has options; set loadMode to auto or always to override the image`,
          );
        options = mergeOptions(options, module.name, opts);
        break;
    }
  }
  try {
    await write(ctx, MODULES_LOAD_CONF, loadList);
    await write(ctx, MODULES_DISABLED_CONF, disabled);
    await write(ctx, MODULE_OPTIONS_CONF, options);
  } catch (error) {
    throw new OsConfigError(
      'OS_CONFIG_MODULES',
      `cannot write the kernel module configuration: ${reason(error)}`,
      {
        cause: error,
      },
    );
  }
  return done(
    `configured ${modules.length} kernel module(s): ${modules.map((m) => `${m.name} (${m.loadMode})`).join(', ')}`,
  );
}

async function lines(ctx: StepContext, path: string): Promise<string[]> {
  const text = await readFileInRoot(ctx.root, path);
  if (text === undefined || text === '') return [];
  return text.replace(/\n$/u, '').split('\n');
}

async function write(ctx: StepContext, path: string, content: readonly string[]): Promise<void> {
  await writeFileInRoot(ctx.root, path, content.length === 0 ? '' : `${content.join('\n')}\n`, 0o644, {
    keepExisting: true,
  });
}

/** All `options <name>` lines become one, existing values updated, new keys appended. */
function mergeOptions(
  lines: readonly string[],
  name: string,
  opts: Readonly<Record<string, string>>,
): string[] {
  const existing: string[] = [];
  const kept = lines.filter((line) => {
    if (line.startsWith(`options ${name} `) || line.trim() === `options ${name}`) {
      existing.push(
        ...line
          .split(/\s+/u)
          .filter((f) => f !== '')
          .slice(2),
      );
      return false;
    }
    return true;
  });
  const seen = new Set<string>();
  const fields = existing.map((field) => {
    const eq = field.indexOf('=');
    if (eq < 0) return field;
    const key = field.slice(0, eq);
    if (Object.hasOwn(opts, key)) {
      seen.add(key);
      return `${key}=${opts[key]}`;
    }
    return field;
  });
  for (const [key, value] of Object.entries(opts)) if (!seen.has(key)) fields.push(`${key}=${value}`);
  kept.push([`options ${name}`, ...fields].join(' '));
  return kept;
}
