'use strict';
// Hoist CLI boot: lib/boot.js of the release, which bin/hoist runs. It runs the bundle next to it
// (index.js, CommonJS) with a V8 code cache, so that a `hoist build` does not compile the CLI's
// code again on every start: about 10 ms of each build on a warm machine.
//
// The cache is V8's compiled code for the bundle as it was when a `hoist build` or `hoist bake`
// ended, in $XDG_CACHE_HOME/hoist (else ~/.cache/hoist), one file per bundle (by its SHA-256,
// written into this file by .ci/build.mjs), Node version and architecture. V8 checks the rest
// (its version, its flags, the source's length) and rejects a cache that does not match: the
// bundle is then compiled as without one, and the cache written again at the end. A missing or
// unwritable directory only means no cache; HOIST_CODE_CACHE=false (0, no, off) turns it off.
// Only built-in modules that Node has loaded before any script runs are used here.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { Module } = require('node:module');

const BUNDLE_SHA256 = '';
/** The commands after which the cache is written: a build's start is what it saves. */
const WRITTEN_AFTER = new Set(['build', 'bake']);

const bundle = path.join(__dirname, 'index.js');

function cacheFile(env) {
  if (!/^[0-9a-f]{64}$/.test(BUNDLE_SHA256)) return undefined;
  // off as HOIST_FINISH_IN_BACKGROUND is: 0, false, no or off
  if (/^(0|false|no|off)$/i.test(env.HOIST_CODE_CACHE ?? '')) return undefined;
  const base = env.XDG_CACHE_HOME || (env.HOME ? path.join(env.HOME, '.cache') : undefined);
  if (!base || !path.isAbsolute(base)) return undefined;
  const name = `cli-${BUNDLE_SHA256.slice(0, 16)}-${process.version}-${process.arch}.v8`;
  return path.join(base, 'hoist', name);
}

/**
 * Compiled code is code: a cache (or its directory) that another user owns or could write is
 * never read, nor written (think of `sudo hoist` with a user's HOME).
 */
function ours(st) {
  const uid = process.getuid?.();
  return (uid === undefined || st.uid === uid) && (st.mode & 0o022) === 0;
}

function readCache(file) {
  if (!file) return { usable: false };
  try {
    if (!ours(fs.statSync(path.dirname(file)))) return { usable: false };
  } catch {
    return { usable: true }; // no directory yet: written after the build
  }
  let fd;
  try {
    fd = fs.openSync(file, 'r');
    if (!ours(fs.fstatSync(fd))) return { usable: false };
    return { usable: true, data: fs.readFileSync(fd) };
  } catch {
    return { usable: true };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Written whole or not at all (a file of its own, renamed): concurrent builds read either. */
function writeCache(file, data) {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(tmp, data, { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch {
    // only start-up time is lost
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* never written */
    }
  }
}

const candidate = cacheFile(process.env);
const found = readCache(candidate);
const file = found.usable ? candidate : undefined;
const cached = found.data;
let source;
try {
  source = fs.readFileSync(bundle, 'utf8');
} catch (err) {
  process.stderr.write(
    `hoist: cannot read ${bundle} (${err.code || err.message}): this installation is incomplete; install the hoist release again (setup-action, or its tarball)\n`,
  );
  process.exit(1);
}
// a hashbang is valid only at the very start of a script: kept as a comment of the same length
if (source.startsWith('#!')) source = `//${source.slice(2)}`;
const script = new vm.Script(Module.wrap(source), {
  filename: bundle,
  cachedData: cached,
  importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
// what became of the cache, for the CLI's timings (HOIST_TIMINGS_FILE)
globalThis[Symbol.for('hoist.codeCache')] = !file
  ? 'off'
  : !cached
    ? 'none'
    : script.cachedDataRejected
      ? 'rejected'
      : 'accepted';
if (file && (!cached || script.cachedDataRejected) && WRITTEN_AFTER.has(process.argv[2])) {
  // at the end, with the code the command compiled on its way
  process.once('exit', () => writeCache(file, script.createCachedData()));
}
const mod = new Module(bundle, module);
mod.filename = bundle;
mod.paths = Module._nodeModulePaths(__dirname);
script
  .runInThisContext()
  .call(mod.exports, mod.exports, Module.createRequire(bundle), mod, bundle, __dirname);
