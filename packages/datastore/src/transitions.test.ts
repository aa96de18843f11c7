import { describe, expect, it } from 'vitest';
import { type HostStatus, notProvisioned, SERVICING_STATES } from './host-status.ts';
import { applyEvent, canApply, type ServicingEvent } from './transitions.ts';

const A = { image: { url: 'http://h/a.cosi', sha384: 'ignored' } };
const B = { image: { url: 'http://h/b.cosi', sha384: 'ignored' } };
const err = { message: 'checks failed', error: 'health-checks-failed', category: 'health-checks' };

function run(start: HostStatus, events: ServicingEvent[]): HostStatus[] {
  const states: HostStatus[] = [];
  let status = start;
  for (const event of events) {
    status = applyEvent(status, event);
    states.push(status);
  }
  return states;
}

describe('servicing transitions (reference servicing.md §6)', () => {
  it('clean install: staged → finalized → commit makes volume A active', () => {
    const states = run({ ...notProvisioned(), isManagementOs: true }, [
      { type: 'clean-install-started' },
      { type: 'clean-install-staged', spec: A, partitionPaths: { 'root-a': '/dev/sda2' }, installIndex: 0 },
      { type: 'clean-install-finalized' },
      { type: 'committed' },
    ]);
    expect(states.map((s) => s.servicingState)).toEqual([
      'not-provisioned',
      'clean-install-staged',
      'clean-install-finalized',
      'provisioned',
    ]);
    expect(states[3]).toMatchObject({
      spec: A,
      abActiveVolume: 'volume-a',
      partitionPaths: { 'root-a': '/dev/sda2' },
    });
  });

  it('A/B update: specOld kept while staged, volume flipped and specOld dropped at commit', () => {
    const provisioned: HostStatus = {
      spec: A,
      servicingState: 'provisioned',
      abActiveVolume: 'volume-a',
      installIndex: 0,
    };
    const [staged, finalized, committed] = run(provisioned, [
      { type: 'ab-update-staged', spec: B },
      { type: 'ab-update-finalized' },
      { type: 'committed' },
    ]);
    expect(staged).toMatchObject({
      servicingState: 'ab-update-staged',
      spec: B,
      specOld: A,
      abActiveVolume: 'volume-a',
    });
    expect(finalized).toMatchObject({ servicingState: 'ab-update-finalized', specOld: A });
    expect(committed).toEqual({
      spec: B,
      servicingState: 'provisioned',
      abActiveVolume: 'volume-b',
      installIndex: 0,
    });
  });

  it('A/B update whose health checks fail: error kept, host back on the old spec and volume', () => {
    const finalized: HostStatus = {
      spec: B,
      specOld: A,
      servicingState: 'ab-update-finalized',
      abActiveVolume: 'volume-a',
      installIndex: 0,
    };
    const [failed, back] = run(finalized, [
      { type: 'health-checks-failed', error: err },
      { type: 'rolled-back-after-health-checks' },
    ]);
    expect(failed).toMatchObject({ servicingState: 'ab-update-health-check-failed', lastError: err });
    expect(back).toEqual({
      spec: A,
      servicingState: 'provisioned',
      abActiveVolume: 'volume-a',
      installIndex: 0,
      lastError: err,
    });
  });

  it('booted the wrong root: install forgets its spec; an update keeps the old one', () => {
    const install: HostStatus = { spec: A, servicingState: 'clean-install-finalized', installIndex: 0 };
    expect(applyEvent(install, { type: 'booted-wrong-root' })).toMatchObject({
      spec: {},
      servicingState: 'not-provisioned',
    });
    const update: HostStatus = {
      spec: B,
      specOld: A,
      servicingState: 'ab-update-finalized',
      abActiveVolume: 'volume-b',
      installIndex: 0,
    };
    expect(applyEvent(update, { type: 'booted-wrong-root' })).toEqual({
      spec: A,
      servicingState: 'provisioned',
      abActiveVolume: 'volume-b',
      installIndex: 0,
    });
  });

  it('runtime update and manual rollbacks', () => {
    const provisioned: HostStatus = {
      spec: A,
      servicingState: 'provisioned',
      abActiveVolume: 'volume-b',
      installIndex: 0,
    };
    const [rtStaged, rtDone] = run(provisioned, [
      { type: 'runtime-update-staged', spec: B },
      { type: 'runtime-update-finalized' },
    ]);
    expect(rtStaged).toMatchObject({ servicingState: 'runtime-update-staged', spec: B, specOld: A });
    expect(rtDone).toEqual({
      spec: B,
      servicingState: 'provisioned',
      abActiveVolume: 'volume-b',
      installIndex: 0,
    });

    const [abStaged, abFinal, abCommitted] = run(provisioned, [
      { type: 'manual-rollback-staged', kind: 'ab', spec: B },
      { type: 'manual-rollback-ab-finalized' },
      { type: 'committed' },
    ]);
    expect(abStaged).toMatchObject({ servicingState: 'manual-rollback-ab-staged', spec: B, specOld: A });
    expect(abFinal?.servicingState).toBe('manual-rollback-ab-finalized');
    expect(abCommitted).toMatchObject({ servicingState: 'provisioned', spec: B, abActiveVolume: 'volume-a' });

    const [rbStaged, rbDone] = run(provisioned, [
      { type: 'manual-rollback-staged', kind: 'runtime', spec: B },
      { type: 'manual-rollback-runtime-finalized' },
    ]);
    expect(rbStaged?.servicingState).toBe('manual-rollback-runtime-staged');
    expect(rbDone).toMatchObject({ servicingState: 'provisioned', spec: B, abActiveVolume: 'volume-b' });
  });

  it('a new update drops a staged one, restoring the old spec', () => {
    const staged: HostStatus = { spec: B, specOld: A, servicingState: 'ab-update-staged', installIndex: 0 };
    expect(applyEvent(staged, { type: 'staged-update-abandoned' })).toEqual({
      spec: A,
      servicingState: 'provisioned',
      installIndex: 0,
    });
  });

  it('refuses events the state does not allow, naming both', () => {
    const provisioned: HostStatus = { spec: A, servicingState: 'provisioned', installIndex: 0 };
    expect(() => applyEvent(provisioned, { type: 'clean-install-staged', spec: B })).toThrow(
      expect.objectContaining({
        code: 'DATASTORE_INVALID_TRANSITION',
        message:
          "servicing event 'clean-install-staged' is not allowed in servicing state 'provisioned' (only in not-provisioned)",
      }),
    );
    expect(() => applyEvent(provisioned, { type: 'committed' })).toThrow(
      expect.objectContaining({ code: 'DATASTORE_INVALID_TRANSITION' }),
    );
    // `failed` and `error-cleared` are allowed everywhere.
    for (const state of SERVICING_STATES) {
      expect(canApply(state, 'failed')).toBe(true);
      expect(canApply(state, 'error-cleared')).toBe(true);
    }
    // Each state allows exactly the events Trident's flows use from it.
    const allowed = Object.fromEntries(
      SERVICING_STATES.map((state) => [
        state,
        (
          [
            'clean-install-started',
            'clean-install-staged',
            'clean-install-finalized',
            'ab-update-staged',
            'ab-update-finalized',
            'runtime-update-staged',
            'runtime-update-finalized',
            'staged-update-abandoned',
            'manual-rollback-staged',
            'manual-rollback-ab-finalized',
            'manual-rollback-runtime-finalized',
            'committed',
            'booted-wrong-root',
            'health-checks-failed',
            'rolled-back-after-health-checks',
          ] as const
        ).filter((type) => canApply(state, type)),
      ]),
    );
    expect(allowed).toMatchInlineSnapshot(`
      {
        "ab-update-finalized": [
          "committed",
          "booted-wrong-root",
          "health-checks-failed",
        ],
        "ab-update-health-check-failed": [
          "rolled-back-after-health-checks",
        ],
        "ab-update-staged": [
          "ab-update-finalized",
          "staged-update-abandoned",
        ],
        "clean-install-finalized": [
          "clean-install-started",
          "committed",
          "booted-wrong-root",
          "health-checks-failed",
        ],
        "clean-install-staged": [
          "clean-install-started",
          "clean-install-finalized",
        ],
        "manual-rollback-ab-finalized": [
          "committed",
          "booted-wrong-root",
        ],
        "manual-rollback-ab-staged": [
          "manual-rollback-ab-finalized",
        ],
        "manual-rollback-runtime-staged": [
          "manual-rollback-runtime-finalized",
        ],
        "not-provisioned": [
          "clean-install-started",
          "clean-install-staged",
        ],
        "provisioned": [
          "ab-update-staged",
          "runtime-update-staged",
          "manual-rollback-staged",
        ],
        "runtime-update-staged": [
          "runtime-update-finalized",
          "staged-update-abandoned",
        ],
      }
    `);
  });
});
