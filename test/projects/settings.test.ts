// The project settings rules (projects/settings.ts) and the CLI's flags for them, by table.
import { describe, expect, it } from '@jest/globals';
import type { ProjectSettings } from '../../src/lib/api-types.js';
import { projectSettingsFromFlags } from '../../src/cli/admin.js';
import { applySettings, type EffectiveSettings } from '../../src/server/projects/settings.js';

const base: EffectiveSettings = {
  max_concurrent_builds: null,
  autoscaling: false,
  max_builders_per_platform: 10,
};
const scaling: EffectiveSettings = {
  max_concurrent_builds: 2,
  autoscaling: true,
  max_builders_per_platform: 3,
};

describe('applySettings', () => {
  const ok: [string, EffectiveSettings, ProjectSettings, EffectiveSettings][] = [
    ['nothing changes', base, {}, base],
    ['builds per builder', base, { max_concurrent_builds: 4 }, { ...base, max_concurrent_builds: 4 }],
    [
      'autoscaling with a limit in the same request',
      base,
      { autoscaling: true, max_concurrent_builds: 2 },
      { ...base, autoscaling: true, max_concurrent_builds: 2 },
    ],
    [
      'autoscaling on a project that has a limit',
      { ...base, max_concurrent_builds: 3 },
      { autoscaling: true },
      { ...base, max_concurrent_builds: 3, autoscaling: true },
    ],
    [
      'range ends',
      base,
      { max_concurrent_builds: 10000, max_builders_per_platform: 1 },
      { ...base, max_concurrent_builds: 10000, max_builders_per_platform: 1 },
    ],
    [
      'most builders at the top',
      base,
      { max_builders_per_platform: 1000 },
      { ...base, max_builders_per_platform: 1000 },
    ],
    [
      'unlimited once autoscaling goes off',
      scaling,
      { autoscaling: false, max_concurrent_builds: null },
      { ...scaling, autoscaling: false, max_concurrent_builds: null },
    ],
  ];
  it.each(ok)('accepts: %s', (_name, cur, patch, want) => {
    expect(applySettings(cur, patch)).toEqual({ ok: true, settings: want });
  });

  const bad: [string, EffectiveSettings, ProjectSettings, RegExp][] = [
    [
      'zero builds per builder',
      base,
      { max_concurrent_builds: 0 },
      /^max_concurrent_builds must be a whole number from 1 to 10000, got 0 \(or null for unlimited\)$/,
    ],
    [
      'too many builds per builder',
      base,
      { max_concurrent_builds: 10001 },
      /max_concurrent_builds .* from 1 to 10000, got 10001/,
    ],
    ['a fraction', base, { max_concurrent_builds: 2.5 }, /max_concurrent_builds .* got 2.5/],
    [
      'zero builders',
      base,
      { max_builders_per_platform: 0 },
      /^max_builders_per_platform must be a whole number from 1 to 1000, got 0 \(the primary included\)$/,
    ],
    [
      'too many builders',
      base,
      { max_builders_per_platform: 1001 },
      /max_builders_per_platform .* 1 to 1000, got 1001/,
    ],
    [
      'autoscaling without a limit',
      base,
      { autoscaling: true },
      /autoscaling needs a builds-per-builder limit: set max_concurrent_builds \(1 to 10000\)/,
    ],
    [
      'unlimited while autoscaling',
      scaling,
      { max_concurrent_builds: null },
      /max_concurrent_builds cannot be unlimited \(null\) while autoscaling is on/,
    ],
    [
      'autoscaling not a boolean',
      base,
      { autoscaling: 'yes' as unknown as boolean },
      /autoscaling must be true or false, got "yes"/,
    ],
  ];
  it.each(bad)('refuses: %s', (_name, cur, patch, message) => {
    const r = applySettings(cur, patch);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(message);
  });
});

describe('projectSettingsFromFlags', () => {
  const cmd = 'hoist projects update';
  it.each([
    [{}, {}],
    [{ 'max-concurrent-builds': '4' }, { max_concurrent_builds: 4 }],
    [{ 'max-concurrent-builds': 'unlimited' }, { max_concurrent_builds: null }],
    [{ autoscaling: 'on' }, { autoscaling: true }],
    [{ autoscaling: 'OFF' }, { autoscaling: false }],
    [
      { autoscaling: 'true', 'max-builders-per-platform': '3' },
      { autoscaling: true, max_builders_per_platform: 3 },
    ],
  ] as [Record<string, string>, ProjectSettings][])('%j -> %j', (values, want) => {
    expect(projectSettingsFromFlags(values, cmd)).toEqual(want);
  });

  it.each([
    [{ 'max-concurrent-builds': 'two' }, /--max-concurrent-builds takes a whole number, got "two"/],
    [{ 'max-builders-per-platform': '-1' }, /--max-builders-per-platform takes a whole number, got "-1"/],
    [{ autoscaling: 'maybe' }, /--autoscaling takes on or off, got "maybe"/],
  ] as [Record<string, string>, RegExp][])('refuses %j', (values, message) => {
    expect(() => projectSettingsFromFlags(values, cmd)).toThrow(message);
  });
});
