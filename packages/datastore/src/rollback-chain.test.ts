import { describe, expect, it } from 'vitest';
import { openDatastore } from './datastore.ts';
import type { HostStatus } from './host-status.ts';
import { isRollbackCapableVersion, rollbackChain } from './rollback-chain.ts';

const spec = (name: string) => ({ image: { url: `http://h/${name}.cosi`, sha384: 'ignored' } });

/** Drives a real datastore through servicing events and returns its history, newest first. */
function historyOf(steps: (store: ReturnType<typeof openDatastore>) => void, agentVersion?: string) {
  const store = openDatastore(':memory:', { create: true, agentVersion });
  steps(store);
  const history = store.history().map((r) => r.status);
  store.close();
  return history;
}

function install(store: ReturnType<typeof openDatastore>) {
  store.apply({ type: 'clean-install-staged', spec: spec('v1') });
  store.apply({ type: 'clean-install-finalized' });
  store.apply({ type: 'committed' });
}

function abUpdate(store: ReturnType<typeof openDatastore>, name: string) {
  store.apply({ type: 'ab-update-staged', spec: spec(name) });
  store.apply({ type: 'ab-update-finalized' });
  store.apply({ type: 'committed' });
}

function runtimeUpdate(store: ReturnType<typeof openDatastore>, name: string) {
  store.apply({ type: 'runtime-update-staged', spec: spec(name) });
  store.apply({ type: 'runtime-update-finalized' });
}

describe('rollback chain (reference servicing.md §9)', () => {
  it('is empty after an install alone, and while a servicing is in progress', () => {
    expect(rollbackChain(historyOf(install))).toEqual([]);
    expect(
      rollbackChain(
        historyOf((s) => {
          install(s);
          abUpdate(s, 'v2');
          s.apply({ type: 'runtime-update-staged', spec: spec('v3') });
        }),
      ),
    ).toEqual([]);
  });

  it('offers runtime updates back to the last A/B update, and that one A/B step, newest first', () => {
    const chain = rollbackChain(
      historyOf((s) => {
        install(s);
        abUpdate(s, 'v2'); // volume B
        abUpdate(s, 'v3'); // volume A: the A/B step back from here is to v2 on B
        runtimeUpdate(s, 'v3.1');
        runtimeUpdate(s, 'v3.2');
      }),
    );
    expect(
      chain.map((item) => [item.kind, (item.spec['image'] as { url: string }).url, item.abActiveVolume]),
    ).toEqual([
      ['runtime', 'http://h/v3.1.cosi', 'volume-a'],
      ['runtime', 'http://h/v3.cosi', 'volume-a'],
      ['ab', 'http://h/v2.cosi', 'volume-b'],
    ]);
  });

  it('hides a manual rollback and the update it undid', () => {
    const chain = rollbackChain(
      historyOf((s) => {
        install(s);
        runtimeUpdate(s, 'v1.1');
        runtimeUpdate(s, 'v1.2');
        s.apply({ type: 'manual-rollback-staged', kind: 'runtime', spec: spec('v1.1') });
        s.apply({ type: 'manual-rollback-runtime-finalized' });
      }),
    );
    expect(chain.map((item) => [item.kind, (item.spec['image'] as { url: string }).url])).toEqual([
      ['runtime', 'http://h/v1.cosi'],
    ]);
  });

  it('stops at failed health checks, at an operation that recorded an error, and at an unreadable row', () => {
    const afterHealth = historyOf((s) => {
      install(s);
      abUpdate(s, 'v2');
      runtimeUpdate(s, 'v2.1');
      s.apply({ type: 'ab-update-staged', spec: spec('v3') });
      s.apply({ type: 'ab-update-finalized' });
      s.apply({
        type: 'health-checks-failed',
        error: { message: 'x', error: 'health-checks-failed', category: 'health-checks' },
      });
      s.apply({ type: 'rolled-back-after-health-checks' });
      s.apply({ type: 'error-cleared' });
    });
    expect(rollbackChain(afterHealth)).toEqual([]);

    const withError = historyOf((s) => {
      install(s);
      abUpdate(s, 'v2');
      // The operation's own (`*-staged`) row carries an error: Trident will not roll it back.
      s.apply({
        type: 'failed',
        error: { message: 'x', error: 'apply-netplan-config', category: 'servicing' },
      });
      s.apply({ type: 'runtime-update-staged', spec: spec('v2.1') });
      s.apply({ type: 'runtime-update-finalized' });
    });
    expect(rollbackChain(withError)).toEqual([]);

    const history = historyOf((s) => {
      install(s);
      abUpdate(s, 'v2');
      runtimeUpdate(s, 'v2.1');
    });
    expect(rollbackChain(history)).toHaveLength(2);
    const broken: Array<HostStatus | undefined> = [...history];
    broken[3] = undefined; // a row of the A/B update that could not be read
    expect(rollbackChain(broken)).toHaveLength(1);
  });

  it("follows Trident's version rule: 0.21.0 and later, pre-release ignored; our rows are marked", () => {
    expect(isRollbackCapableVersion('0.21.0')).toBe(true);
    expect(isRollbackCapableVersion('0.21.0-1.azl3')).toBe(true);
    expect(isRollbackCapableVersion('1.0.0')).toBe(true);
    expect(isRollbackCapableVersion('0.20.9')).toBe(false);
    expect(isRollbackCapableVersion('dev')).toBe(false);
    expect(isRollbackCapableVersion(undefined)).toBe(false);
    expect(isRollbackCapableVersion('0.1.0+trident-ts')).toBe(true);
    const old = historyOf((s) => {
      install(s);
      abUpdate(s, 'v2');
    }, '0.20.0');
    expect(rollbackChain(old)).toEqual([]);
  });
});
