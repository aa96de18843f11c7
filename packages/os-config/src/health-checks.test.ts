import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHealthChecks } from './health-checks.ts';
import { runPreServicingScripts } from './scripts.ts';
import { hostConfig, SIMPLE_STORAGE } from './test-support/rootfs.ts';

describe('scripts on the servicing OS', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-config-scripts-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('preServicing runs on the host with TARGET_ROOT=/ and PHONEHOME_URL, skipping other runOn', async () => {
    const marker = join(dir, 'pre');
    await writeFile(
      join(dir, 'pre.sh'),
      `echo "$SERVICING_TYPE $TARGET_ROOT $PHONEHOME_URL $1" >> ${marker}\n`,
    );
    const config = hostConfig(`${SIMPLE_STORAGE}
trident:
  phonehome: http://192.0.2.1:8080/status
scripts:
  preServicing:
  - name: from-path
    runOn: [clean-install, ab-update]
    path: ${join(dir, 'pre.sh')}
    arguments: [go]
  - name: never
    content: exit 9
  - runOn: [runtime-update]
    content: exit 9
`);
    expect(await runPreServicingScripts(config, { servicingType: 'clean-install' })).toEqual(['from-path']);
    expect(await runPreServicingScripts(config, { servicingType: 'ab-update' })).toEqual(['from-path']);
    // Upstream never runs preServicing on a runtime update.
    expect(await runPreServicingScripts(config, { servicingType: 'runtime-update' })).toEqual([]);
    expect(await readFile(marker, 'utf8')).toBe(
      'clean_install / http://192.0.2.1:8080/status go\nab_update / http://192.0.2.1:8080/status go\n',
    );
  });

  it('a failing preServicing script is named, an unnamed one by its place', async () => {
    const config = hostConfig(
      `${SIMPLE_STORAGE}scripts:\n  preServicing:\n  - runOn: [all]\n    content: "echo no >&2; exit 4"\n`,
    );
    await expect(runPreServicingScripts(config, { servicingType: 'clean-install' })).rejects.toMatchObject({
      code: 'OS_CONFIG_PRE_SERVICING_SCRIPT',
      subkind: 'run-pre-servicing-script',
      message: "script 'preServicing[0]' failed: exited with code 4; its last output:\nno",
    });
  });
});

describe('health checks', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-config-health-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs script checks in parallel and reports every failure together', async () => {
    const started = Date.now();
    const config = hostConfig(`${SIMPLE_STORAGE}
health:
  checks:
  - name: slow-ok
    runOn: [all]
    content: sleep 2
  - name: slow-bad
    runOn: [clean-install]
    content: "sleep 2; echo disk full; exit 2"
  - name: bad-too
    runOn: [all]
    content: "echo nope; exit 1"
  - name: only-on-update
    runOn: [ab-update]
    content: exit 1
`);
    const failure = runHealthChecks(config, { servicingType: 'clean-install' });
    await expect(failure).rejects.toMatchObject({
      code: 'OS_CONFIG_HEALTH_CHECKS_FAILED',
      subkind: 'health-checks-failed',
      failures: [
        {
          name: 'slow-bad',
          error: expect.stringContaining('exited with code 2; its last output:\ndisk full'),
        },
        { name: 'bad-too', error: expect.stringContaining('exited with code 1') },
      ],
    });
    // Two two-second checks in parallel, not in series (which would take four).
    expect(Date.now() - started).toBeLessThan(3500);
    expect(
      await runHealthChecks(config, { servicingType: 'ab-update' }).catch((e: Error) => e.message),
    ).toMatch(/^2 of 3 health check\(s\) failed \(ab-update\)/u);
  });

  it('passes when every check that runs passes', async () => {
    const config = hostConfig(
      SIMPLE_STORAGE + 'health:\n  checks:\n  - name: fine\n    runOn: [all]\n    content: "true"\n',
    );
    expect(await runHealthChecks(config, { servicingType: 'clean-install' })).toEqual(['fine']);
    expect(await runHealthChecks(config, { servicingType: 'none' })).toEqual(['fine']);
  });
});
