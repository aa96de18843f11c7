/**
 * Finalizing a manual runtime rollback on the running OS (reference servicing.md §9–§10; upstream
 * `runtime_update.rs` with the network, os-config and extensions subsystems): the target spec's
 * netplan is written and applied live here; its extension images are put back by os-config's
 * `applyRuntimeExtensions` (as a runtime update does them), then the runtime health checks run.
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isExecError, runTool } from '@trident/exec';
import type { HostConfiguration } from '@trident/host-config';
import { NETPLAN_FILE, renderNetplan } from '@trident/os-config';
import { EngineError } from '../../errors.ts';

export interface RuntimeApplyOptions {
  /** The running OS's root (default `/`); another root only gets the file and `netplan generate`. */
  rootDir?: string | undefined;
  log?: ((level: 'debug' | 'info' | 'warn' | 'error', message: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** Writes the target's netplan and applies it (upstream: write, `netplan generate`, `netplan apply`). */
export async function applyRuntimeNetplan(
  config: HostConfiguration,
  options: RuntimeApplyOptions,
): Promise<boolean> {
  const netplan = config.os.netplan as Record<string, unknown> | undefined;
  if (netplan === undefined) {
    // Upstream's network subsystem does nothing without os.netplan, so a rollback to a spec without
    // one leaves the running network configuration as it is.
    options.log?.(
      'info',
      'The rollback target has no os.netplan: the network configuration is left as it is',
    );
    return false;
  }
  const root = options.rootDir ?? '/';
  const live = root === '/';
  const file = join(root, NETPLAN_FILE);
  const fail = (subkind: string, what: string, cause: unknown) => {
    const why = isExecError(cause, 'EXEC_MISSING_BINARY')
      ? 'netplan is not installed on this host'
      : (cause as Error).message;
    return new EngineError('SERVICING_ERROR', subkind, `${what}: ${why}`, { cause });
  };
  try {
    await mkdir(join(root, '/etc/netplan'), { recursive: true });
    await writeFile(file, renderNetplan(netplan), { mode: 0o600 });
  } catch (error) {
    throw fail('write-netplan-config', `writing ${file} failed`, error);
  }
  options.log?.('info', `Wrote ${file}`);
  const run = (args: string[]) =>
    runTool('netplan', args, { timeoutMs: 120_000, ...(options.signal ? { signal: options.signal } : {}) });
  try {
    await run(live ? ['generate'] : ['generate', '--root-dir', root]);
  } catch (error) {
    throw fail('generate-netplan-config', "'netplan generate' failed", error);
  }
  if (!live) return true;
  try {
    await run(['apply']);
  } catch (error) {
    throw fail('apply-netplan-config', "'netplan apply' failed", error);
  }
  options.log?.('info', 'Applied the network configuration (netplan apply)');
  return true;
}
