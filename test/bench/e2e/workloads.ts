// The benchmark's workloads: build contexts laid out from the templates in workloads/ and the
// inputs prepare.sh cached on the host, and the edits each scenario makes to them.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Workload } from './report.js';

const TEMPLATES = join(dirname(new URL(import.meta.url).pathname), 'workloads');

export interface WorkloadDef {
  name: Workload;
  /** The targets one CI step builds and pushes, in order (undefined: the last stage). */
  targets: (string | undefined)[];
  /** What the reader of the results needs to know about it. */
  description: string;
  /** Lays the context out in `dir` (created) from the templates and the cache. */
  prepare(dir: string, cache: string): void;
  /** A one-line change of application source, different for every `nonce`. */
  sourceChange(dir: string, nonce: string): void;
  /** A change of the dependency layer's input, different for every `nonce`. */
  depsChange(dir: string, nonce: string, n: number): void;
}

/** Copies with hard links where it can (the wheels are large and never written to). */
function linkTree(from: string, to: string): void {
  if (!existsSync(from)) throw new Error(`${from} is missing: run bash test/bench/e2e/prepare.sh`);
  mkdirSync(dirname(to), { recursive: true });
  execFileSync('cp', ['-al', from, to]);
}

function copyTemplate(workload: string, dir: string, items: string[]): void {
  mkdirSync(dir, { recursive: true });
  for (const item of items) cpSync(join(TEMPLATES, workload, item), join(dir, item), { recursive: true });
}

/** Replaces the one line matching `pattern` in `file`; throws when there is none. */
export function replaceLine(file: string, pattern: RegExp, line: string): void {
  const text = readFileSync(file, 'utf8');
  if (!pattern.test(text)) throw new Error(`${file}: no line matches ${pattern}`);
  writeFileSync(file, text.replace(pattern, line));
}

function requirements(dir: string, workload: string, nonce: string, n: number): void {
  const version = n % 2 === 1 ? 'v2' : 'v1';
  const pins = readFileSync(join(TEMPLATES, workload, `requirements-${version}.txt`), 'utf8');
  writeFileSync(join(dir, 'requirements.txt'), `${pins}# dependency change ${nonce}\n`);
}

export const WORKLOAD_DEFS: Record<Workload, WorkloadDef> = {
  'python-api': {
    name: 'python-api',
    targets: [undefined],
    description:
      'FastAPI service; dependency layer of 32 wheels (numpy, pandas, boto3/botocore, SQLAlchemy, pydantic, …; 55 MB of wheels, installed offline by pip into a venv), then the app source',
    prepare(dir, cache) {
      copyTemplate('python-api', dir, ['Dockerfile', 'app']);
      writeFileSync(
        join(dir, 'requirements.txt'),
        readFileSync(join(TEMPLATES, 'python-api', 'requirements-v1.txt')),
      );
      linkTree(join(cache, 'wheels'), join(dir, 'wheels'));
    },
    sourceChange(dir, nonce) {
      replaceLine(join(dir, 'app', 'version.py'), /^VERSION = .*$/m, `VERSION = "1.4.0+${nonce}"`);
    },
    depsChange(dir, nonce, n) {
      requirements(dir, 'python-api', nonce, n);
    },
  },
  'c-lua': {
    name: 'c-lua',
    targets: [undefined],
    description:
      "Lua 5.4 interpreter and library (Debian's lua5.4 sources, 34 C files at -O2) over a vendored zlib 1.2.13 (Debian's sources) built and installed first; gcc through ccache in a RUN --mount=type=cache",
    prepare(dir, cache) {
      copyTemplate('c-lua', dir, ['Dockerfile']);
      cpSync(join(cache, 'src', 'lua'), join(dir, 'lua'), { recursive: true });
      cpSync(join(cache, 'src', 'zlib'), join(dir, 'zlib'), {
        recursive: true,
        filter: (src) =>
          !/\/zlib\/(contrib|doc|examples|win32|os400|qnx|watcom|amiga|msdos|nintendods|old)(\/|$)/.test(src),
      });
    },
    sourceChange(dir, nonce) {
      replaceLine(
        join(dir, 'lua', 'src', 'lua.c'),
        /^#define LUA_PROMPT\t.*$/m,
        `#define LUA_PROMPT\t\t"${nonce}> "`,
      );
    },
    depsChange(dir, nonce) {
      replaceLine(
        join(dir, 'zlib', 'zlib.h'),
        /^#define ZLIB_VERSION .*$/m,
        `#define ZLIB_VERSION "1.2.13.${nonce}"`,
      );
    },
  },
  monorepo: {
    name: 'monorepo',
    targets: ['api', 'worker'],
    description:
      'two Python services (targets api and worker, built one after the other in one step) over a shared library and dependency layer (FastAPI, SQLAlchemy, …), and Lua 5.4 compiled through ccache in a cache mount for the worker',
    prepare(dir, cache) {
      copyTemplate('monorepo', dir, ['Dockerfile', 'libs', 'services']);
      writeFileSync(
        join(dir, 'requirements.txt'),
        readFileSync(join(TEMPLATES, 'monorepo', 'requirements-v1.txt')),
      );
      linkTree(join(cache, 'wheels'), join(dir, 'wheels'));
      cpSync(join(cache, 'src', 'lua'), join(dir, 'third_party', 'lua'), { recursive: true });
    },
    sourceChange(dir, nonce) {
      replaceLine(
        join(dir, 'libs', 'common', 'common', 'version.py'),
        /^VERSION = .*$/m,
        `VERSION = "2.7.0+${nonce}"`,
      );
    },
    depsChange(dir, nonce, n) {
      requirements(dir, 'monorepo', nonce, n);
    },
  },
};
