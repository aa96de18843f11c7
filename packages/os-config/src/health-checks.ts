/**
 * `health.checks` (upstream `health/mod.rs`), run by commit on the booted target OS: every check
 * that should run for the servicing type runs in parallel, and all failures are reported together
 * (`health-checks-failed`). A script check runs as a servicing-OS script (`TARGET_ROOT=/`, its
 * `path` read now). A systemd check polls `systemctl status <units>` every 100 ms until it succeeds
 * or `timeoutSeconds` (default 30; 0 = once) have passed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { runTool } from '@trident/exec';
import { OsConfigError, reason } from './errors.ts';
import { runScript, scriptLabel, shouldRun } from './scripts.ts';
import type { Config, OsConfigLog, ServicingType } from './types.ts';

type Check = Config['health']['checks'][number];
type SystemdCheck = Extract<Check, { systemdServices: string[] }>;

const POLL_MS = 100;

export interface HealthCheckFailure {
  name: string;
  error: string;
}

export interface HealthCheckOptions {
  servicingType: ServicingType;
  onLog?: ((log: OsConfigLog) => void) | undefined;
  signal?: AbortSignal | undefined;
  /**
   * Run inside this root instead of the running OS (chroot). Commit runs on the booted OS, so this
   * is for tests and for checking an OS that is not running.
   */
  root?: string | undefined;
}

/** Runs the checks; resolves with the names that ran, or throws `OS_CONFIG_HEALTH_CHECKS_FAILED`. */
export async function runHealthChecks(config: Config, options: HealthCheckOptions): Promise<string[]> {
  const checks = config.health.checks
    .map((check, index) => ({ check, label: scriptLabel(check, 'health.checks', index) }))
    .filter(({ check }) => shouldRun(check.runOn, options.servicingType));
  const results = await Promise.all(
    checks.map(async ({ check, label }): Promise<HealthCheckFailure | undefined> => {
      try {
        if (isSystemdCheck(check)) await runSystemdCheck(check, label, options);
        else
          await runScript(check, label, {
            root: options.root,
            targetRoot: '/',
            servicingType: options.servicingType,
            phonehomeUrl: config.trident.phonehome,
            onLog: options.onLog,
            signal: options.signal,
            code: 'OS_CONFIG_HEALTH_CHECKS_FAILED',
          });
        return undefined;
      } catch (error) {
        return { name: label, error: reason(error) };
      }
    }),
  );
  const failures = results.filter((r): r is HealthCheckFailure => r !== undefined);
  if (failures.length > 0) {
    const details = failures.map((f) => `${f.name}: ${f.error}`).join('\n');
    const error = new OsConfigError(
      'OS_CONFIG_HEALTH_CHECKS_FAILED',
      `${failures.length} of ${checks.length} health check(s) failed (${options.servicingType}):\n${details}`,
    );
    Object.defineProperty(error, 'failures', { value: failures, enumerable: true });
    throw error;
  }
  return checks.map((c) => c.label);
}

function isSystemdCheck(check: Check): check is SystemdCheck {
  return 'systemdServices' in check;
}

async function runSystemdCheck(
  check: SystemdCheck,
  label: string,
  options: HealthCheckOptions,
): Promise<void> {
  const units = check.systemdServices;
  const started = Date.now();
  const source = `health:${label}`;
  for (;;) {
    let last: string;
    try {
      // Inside a container or chroot systemctl would refuse to talk to systemd; the check asks the
      // running one regardless (upstream sets the same variable).
      const result = await runTool('systemctl', ['status', ...units], {
        env: { SYSTEMD_IGNORE_CHROOT: 'true' },
        root: options.root,
        okCodes: 'any',
        signal: options.signal,
      });
      if (result.exitCode === 0) {
        options.onLog?.({ level: 'info', source, message: `service(s) ${units.join(' ')} are active` });
        return;
      }
      last = `systemctl status exited with ${result.exitCode}: ${(result.stderr || result.stdout).trim().split('\n').slice(-5).join(' / ')}`;
    } catch (error) {
      if (options.signal?.aborted) throw error;
      last = reason(error);
    }
    options.onLog?.({ level: 'debug', source, message: `not healthy yet: ${last}` });
    await sleep(POLL_MS, undefined, { signal: options.signal });
    if (Date.now() - started >= check.timeoutSeconds * 1000)
      throw new Error(
        `service(s) ${units.join(' ')} not active within ${check.timeoutSeconds} s (systemd-check-timeout); last: ${last}`,
      );
  }
}
