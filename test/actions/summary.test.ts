import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  countCachedSteps,
  formatDuration,
  renderSummary,
  summaryInputs,
} from '../../src/actions/build-push/summary.js';
import { parseBuildInfoFromOutput } from '../../src/actions/build-push/result.js';
import type { Inputs } from '../../src/actions/build-push/inputs.js';

// Captured from the e2e suite: buildx v0.x plain progress of a `hoist build` whose
// Dockerfile steps were all cached on the Hoist builder, and of a first build with
// the docker driver (the fallback), whose FROM vertex is reported several times.
const fixture = (name: string): string =>
  fs.readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', name), 'utf8');

describe('countCachedSteps', () => {
  it('counts cached Dockerfile steps of a real cached build', () => {
    expect(countCachedSteps(fixture('progress-plain-hoist-cached.txt'))).toEqual({ cached: 3, total: 4 });
  });

  it('counts a real uncached build once per step despite repeated vertices', () => {
    expect(countCachedSteps(fixture('progress-plain-docker-driver.txt'))).toEqual({ cached: 0, total: 4 });
  });

  it('counts stage-named and multi-platform steps, not internal vertices', () => {
    const out = [
      '#1 [internal] load build definition from Dockerfile',
      '#1 DONE 0.0s',
      '#2 [linux/amd64 builder 1/3] FROM docker.io/library/golang:1.22',
      '#2 CACHED',
      '#3 [linux/arm64 builder 2/3] RUN go build ./...',
      '#3 DONE 12.1s',
      '#4 [stage-1 1/1] COPY --from=builder /out /app',
      '#4 CACHED',
      '#5 exporting to image',
      '#5 DONE 0.2s',
    ].join('\n');
    expect(countCachedSteps(out)).toEqual({ cached: 2, total: 3 });
  });

  it('reads rawjson progress', () => {
    const lines = [
      JSON.stringify({ vertexes: [{ digest: 'sha256:a', name: '[1/2] FROM docker.io/library/alpine' }] }),
      JSON.stringify({
        vertexes: [{ digest: 'sha256:a', name: '[1/2] FROM docker.io/library/alpine', cached: true }],
      }),
      JSON.stringify({ vertexes: [{ digest: 'sha256:b', name: '[2/2] RUN make' }] }),
      JSON.stringify({
        vertexes: [{ digest: 'sha256:c', name: '[internal] load .dockerignore', cached: true }],
      }),
    ].join('\n');
    expect(countCachedSteps(lines)).toEqual({ cached: 1, total: 2 });
  });

  it('is undefined without progress', () => {
    expect(countCachedSteps('ERROR: something else\n')).toBeUndefined();
  });
});

describe('summaryInputs', () => {
  it('drops tokens, empty and false values, and reduces secrets to keys', () => {
    const inputs = {
      tags: ['a:1'],
      secrets: ['NPM_TOKEN=abc', 'MULTI=x\ny', 'broken'],
      'github-token': 'ghs_x',
      token: 'hoist_prj_x',
      push: true,
      load: false,
      file: '',
      platforms: [],
      fallback: 'auto',
    } as unknown as Inputs;
    expect(summaryInputs(inputs)).toEqual({
      tags: ['a:1'],
      secrets: ['NPM_TOKEN', 'MULTI'],
      push: true,
      fallback: 'auto',
    });
  });
});

describe('renderSummary', () => {
  const base = {
    builder: 'hoist' as const,
    where: 'Hoist at https://hoist.example.com (project web)',
    ok: true,
    platforms: ['linux/amd64', 'linux/arm64'],
    durationMs: 83_400,
    steps: { cached: 7, total: 9 },
    tags: ['ghcr.io/o/r:1', 'ghcr.io/o/r:latest'],
    digest: 'sha256:' + 'a'.repeat(64),
    imageId: 'sha256:' + 'b'.repeat(64),
    buildId: 'bld_1',
    buildUrl: 'https://hoist.example.com/v1/builds/bld_1',
    inputs: { secrets: ['NPM_TOKEN'], push: true },
  };

  it('shows where, platforms, duration, cached steps, tags, digest, the link and the inputs', () => {
    const md = renderSummary(base);
    for (const part of [
      'Hoist at https://hoist.example.com (project web)',
      '<code>linux/amd64</code>, <code>linux/arm64</code>',
      '1m 23s',
      '7 of 9',
      '<code>ghcr.io/o/r:latest</code>',
      base.digest,
      '<a href="https://hoist.example.com/v1/builds/bld_1">bld_1</a>',
      '"NPM_TOKEN"',
    ]) {
      expect(md).toContain(part);
    }
  });

  it('says what the fallback-cache input exported, and only when it is set', () => {
    const note =
      'exports ghcr.io/o/cache:main (the default branch), which fork pull requests import when they fall back';
    expect(renderSummary({ ...base, cache: note })).toContain(
      `<tr><th align="left">Fallback cache</th><td>${note}</td></tr>`,
    );
    expect(renderSummary(base)).not.toContain('Fallback cache');
  });

  it('escapes HTML from inputs', () => {
    expect(renderSummary({ ...base, tags: ['<script>'] })).toContain('<code>&#60;script&#62;</code>');
  });

  it('keeps inputs holding a code fence inside the inputs block', () => {
    const label = 'x=```\n</details><img src=x>';
    const md = renderSummary({ ...base, inputs: { labels: [label] } });
    expect(md).toContain('````json\n');
    const block = md.slice(md.indexOf('````json\n') + 8, md.lastIndexOf('\n````'));
    expect(JSON.parse(block)).toEqual({ labels: [label] });
    expect(md.trimEnd().endsWith('</details>')).toBe(true);
  });

  it('says so when the build failed and nothing was parsed', () => {
    const md = renderSummary({
      ...base,
      ok: false,
      steps: undefined,
      digest: undefined,
      buildId: undefined,
      buildUrl: undefined,
    });
    expect(md).toContain(':x: failed');
    expect(md).toContain('unknown (no build progress parsed)');
    expect(md).not.toContain('Hoist build</th>');
  });

  it.each([
    [450, '450ms'],
    [1500, '1.5s'],
    [125_000, '2m 5s'],
  ])('formatDuration(%d) = %s', (ms, s) => {
    expect(formatDuration(ms)).toBe(s);
  });
});

describe('build id and URL of hoist build', () => {
  it('parses the line hoist build prints', () => {
    expect(
      parseBuildInfoFromOutput(
        '#0 building\nhoist: build bld_0mwt: http://127.0.0.1:1/v1/builds/bld_0mwt\n#1 x',
      ),
    ).toEqual({
      buildId: 'bld_0mwt',
      buildUrl: 'http://127.0.0.1:1/v1/builds/bld_0mwt',
    });
  });
  it('finds nothing in plain buildx output', () => {
    expect(parseBuildInfoFromOutput(fixture('progress-plain-docker-driver.txt'))).toEqual({});
  });
});
