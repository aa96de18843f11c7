/**
 * `scripts` hooks (upstream `subsystems/hooks.rs`, `osutils/src/scripts.rs`):
 *
 * | hook | runs | `TARGET_ROOT` |
 * |---|---|---|
 * | preServicing | servicing OS, at the start of staging (never on runtime update) | `/` |
 * | postProvision | servicing OS, new root mounted | the new root's path |
 * | postConfigure | chrooted into the new root | `/` |
 *
 * A script runs only when its `runOn` names the servicing type or `all` (empty: never). Its text is
 * `content` or the file at `path` on the servicing OS; it is written to a temporary file (inside the
 * chroot: the new root's `/tmp`) and run as `<interpreter> <file> <arguments…>`, the interpreter
 * (default `/bin/sh`) looked up where the script runs. The environment is the agent's, plus
 * `environmentVariables`, `SERVICING_TYPE`, `TARGET_ROOT` and `PHONEHOME_URL` (when
 * `trident.phonehome` is set). Output (stdout and stderr, interleaved) is logged; a non-zero exit
 * fails the servicing with the script's name.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findProgram, isExecError, runTool } from '@trident/exec';
import { type OsConfigCode, OsConfigError, reason } from './errors.ts';
import { resolveInRoot } from './root-files.ts';
import { done, type StepContext, type StepOutcome, skipped } from './step.ts';
import type { Config, OsConfigLog, ServicingType } from './types.ts';

export type Script = Config['scripts']['postConfigure'][number];
export type ScriptHook = 'preServicing' | 'postProvision' | 'postConfigure';

const DEFAULT_INTERPRETER = '/bin/sh';
/** Output lines kept for the error message of a failing script. */
const TAIL_LINES = 40;

/** `SERVICING_TYPE` as scripts see it (upstream `match_servicing_type_env_var`). */
export const SERVICING_TYPE_ENV: Readonly<Record<ServicingType, string>> = {
  none: 'none',
  'runtime-update': 'runtime_update',
  'ab-update': 'ab_update',
  'clean-install': 'clean_install',
  'manual-rollback-ab': 'manual_rollback_ab',
  'manual-rollback-runtime': 'manual_rollback_runtime',
};

const HOOK_CODES: Readonly<Record<ScriptHook, OsConfigCode>> = {
  preServicing: 'OS_CONFIG_PRE_SERVICING_SCRIPT',
  postProvision: 'OS_CONFIG_POST_PROVISION_SCRIPT',
  postConfigure: 'OS_CONFIG_POST_CONFIGURE_SCRIPT',
};

/** Upstream `Script::should_run`: `all`, or the servicing type itself for the three kinds. */
export function shouldRun(runOn: readonly string[], servicingType: ServicingType): boolean {
  if (runOn.includes('all')) return true;
  return (
    (servicingType === 'clean-install' ||
      servicingType === 'runtime-update' ||
      servicingType === 'ab-update') &&
    runOn.includes(servicingType)
  );
}

/** How a script is named in logs and errors (the name is optional in the configuration). */
export function scriptLabel(script: { name: string }, hook: string, index: number): string {
  return script.name === '' ? `${hook}[${index}]` : script.name;
}

/**
 * Upstream's Validate step: postProvision and postConfigure scripts that will run and name a
 * `path` need that path to be a regular file on the servicing OS (`invalid-script-path`).
 */
export async function validateScriptPaths(config: Config, servicingType: ServicingType): Promise<void> {
  for (const hook of ['postConfigure', 'postProvision'] as const) {
    for (const [index, script] of config.scripts[hook].entries()) {
      if (script.path === undefined || !shouldRun(script.runOn, servicingType)) continue;
      const info = await stat(script.path).catch(() => undefined);
      if (!info?.isFile())
        throw new OsConfigError(
          'OS_CONFIG_INVALID_SCRIPT_PATH',
          `script '${scriptLabel(script, hook, index)}' (scripts.${hook}[${index}].path) names '${script.path}', which is not a file on the servicing OS`,
        );
    }
  }
}

export interface ScriptRun {
  /** Run chrooted into this directory; undefined: on the servicing OS. */
  root?: string | undefined;
  /** `TARGET_ROOT` the script sees. */
  targetRoot: string;
  servicingType: ServicingType;
  phonehomeUrl?: string | undefined;
  onLog?: ((log: OsConfigLog) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** The code of the error a failure becomes. */
  code: OsConfigCode;
}

/** Runs one script (whatever its `runOn`: callers filter with `shouldRun`). */
export async function runScript(
  script: Omit<Script, 'name'> & { name: string },
  label: string,
  run: ScriptRun,
): Promise<void> {
  const fail = (why: string, cause?: unknown): OsConfigError =>
    new OsConfigError(run.code, `script '${label}' failed: ${why}`, { cause });
  let body: string | Uint8Array;
  if (script.content !== undefined) body = script.content;
  else if (script.path !== undefined) {
    try {
      body = await readFile(script.path);
    } catch (error) {
      throw fail(`cannot read '${script.path}' on the servicing OS: ${reason(error)}`, error);
    }
  } else throw fail('it has neither content nor path');

  const interpreter = script.interpreter ?? DEFAULT_INTERPRETER;
  const interpreterPath = await findProgram(interpreter, run.root);
  if (interpreterPath === undefined)
    throw fail(
      `its interpreter '${interpreter}' is not installed ${run.root === undefined ? 'on the servicing OS' : 'in the new root'}`,
    );

  const name = `trident-script-${randomBytes(6).toString('hex')}`;
  let scriptPath: string;
  let cleanup: () => Promise<void>;
  if (run.root === undefined) {
    const dir = await mkdtemp(join(tmpdir(), 'trident-script-'));
    scriptPath = join(dir, name);
    cleanup = () => rm(dir, { recursive: true, force: true });
    await writeFile(scriptPath, body, { mode: 0o600 });
  } else {
    scriptPath = `/tmp/${name}`;
    const host = await resolveInRoot(run.root, scriptPath);
    cleanup = () => rm(host, { force: true });
    await writeFile(host, body, { mode: 0o600, flag: 'wx' });
  }

  const env: Record<string, string> = {
    ...script.environmentVariables,
    SERVICING_TYPE: SERVICING_TYPE_ENV[run.servicingType],
    TARGET_ROOT: run.targetRoot,
  };
  if (process.env['LC_ALL'] !== undefined) env['LC_ALL'] = process.env['LC_ALL'];
  if (run.phonehomeUrl !== undefined) env['PHONEHOME_URL'] = run.phonehomeUrl;
  const tail: string[] = [];
  const source = `script:${label}`;
  try {
    await runTool(interpreterPath, [scriptPath, ...script.arguments], {
      env,
      root: run.root,
      signal: run.signal,
      okCodes: [0],
      onLine: (_stream, line) => {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        run.onLog?.({ level: 'debug', source, message: line });
      },
    });
  } catch (error) {
    if (isExecError(error, 'EXEC_FAILED')) {
      const how =
        error.signal === undefined ? `exited with code ${error.exitCode}` : `was killed by ${error.signal}`;
      throw fail(
        `${how}${tail.length > 0 ? `; its last output:\n${tail.join('\n')}` : ' and printed nothing'}`,
        error,
      );
    }
    throw fail(reason(error), error);
  } finally {
    await cleanup();
  }
  run.onLog?.({ level: 'info', source, message: `script '${label}' succeeded` });
}

async function runHook(
  hook: ScriptHook,
  config: Config,
  servicingType: ServicingType,
  where: { root?: string | undefined; targetRoot: string },
  onLog: ScriptRun['onLog'],
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const ran: string[] = [];
  for (const [index, script] of config.scripts[hook].entries()) {
    const label = scriptLabel(script, hook, index);
    if (!shouldRun(script.runOn, servicingType)) {
      onLog?.({
        level: 'debug',
        source: `script:${label}`,
        message: `not run: runOn does not include ${servicingType}`,
      });
      continue;
    }
    await runScript(script, label, {
      ...where,
      servicingType,
      phonehomeUrl: config.trident.phonehome,
      onLog,
      signal,
      code: HOOK_CODES[hook],
    });
    ran.push(label);
  }
  return ran;
}

/**
 * preServicing scripts, on the servicing OS: the engine calls this at the start of staging, before
 * anything is written (upstream never runs them on a runtime update).
 */
export async function runPreServicingScripts(
  config: Config,
  options: { servicingType: ServicingType; onLog?: ScriptRun['onLog']; signal?: AbortSignal | undefined },
): Promise<string[]> {
  if (options.servicingType === 'runtime-update') return [];
  return runHook(
    'preServicing',
    config,
    options.servicingType,
    { targetRoot: '/' },
    options.onLog,
    options.signal,
  );
}

function outcome(hook: ScriptHook, ran: string[], total: number): StepOutcome {
  if (total === 0) return skipped(`no scripts.${hook}`);
  if (ran.length === 0) return skipped(`no scripts.${hook} entry runs on this servicing type`);
  return done(`ran ${ran.join(', ')}`);
}

export async function runPostProvisionScripts(ctx: StepContext): Promise<StepOutcome> {
  const ran = await runHook(
    'postProvision',
    ctx.config,
    ctx.servicingType,
    { targetRoot: ctx.root },
    (log) => ctx.log(log.level, log.source, log.message),
    ctx.signal,
  );
  return outcome('postProvision', ran, ctx.config.scripts.postProvision.length);
}

export async function runPostConfigureScripts(ctx: StepContext): Promise<StepOutcome> {
  const ran = await runHook(
    'postConfigure',
    ctx.config,
    ctx.servicingType,
    { root: ctx.root, targetRoot: '/' },
    (log) => ctx.log(log.level, log.source, log.message),
    ctx.signal,
  );
  return outcome('postConfigure', ran, ctx.config.scripts.postConfigure.length);
}
