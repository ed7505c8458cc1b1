// Packs dist/cli into dist/releases/hoist-<version>-<os>-<arch>.tar.gz (+ .sha256), byte for byte
// reproducible: a hand-written ustar stream with fixed order, modes, owner and mtime, gzipped with
// no timestamp. Layout: bin/hoist (a sh launcher that runs the bundle with the Node on PATH) and
// lib/ (the ncc bundle: index.js, its chunks, boot.js, package.json, native addons, licenses).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, constants } from 'node:zlib';

const MTIME = 1577836800; // 2020-01-01T00:00:00Z: fixed, and not "implausibly old" to GNU tar
const SRC = 'dist/cli';
const OUT = 'dist/releases';

// bin/hoist: the launcher's source is src/cli/launcher.sh (tested by test/cli/extra-ca.test.ts)
const LAUNCHER = readFileSync(new URL('../src/cli/launcher.sh', import.meta.url), 'utf8');

function octal(n, width) {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name, { size, mode, type }) {
  const h = Buffer.alloc(512, 0);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 154);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100)
      throw new Error(`path too long for ustar: ${name}`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  h.write(base, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(MTIME, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum placeholder
  h.write(type, 156, 'ascii');
  h.write('ustar\u000000', 257, 'binary');
  h.write('root', 265, 'ascii');
  h.write('root', 297, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

function walk(dir, rel = '') {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    const r = rel ? `${rel}/${name}` : name;
    if (statSync(full).isDirectory()) out.push({ dir: true, rel: r }, ...walk(full, r));
    else out.push({ dir: false, rel: r, full });
  }
  return out;
}

export function packageCli() {
  const version = JSON.parse(readFileSync('package.json', 'utf8')).version;
  const os = process.platform;
  const arch = process.arch;
  const base = `hoist-${version}-${os}-${arch}.tar.gz`;

  const entries = [
    { name: 'bin/', type: '5', mode: 0o755, data: Buffer.alloc(0) },
    { name: 'bin/hoist', type: '0', mode: 0o755, data: Buffer.from(LAUNCHER) },
    { name: 'lib/', type: '5', mode: 0o755, data: Buffer.alloc(0) },
  ];
  const files = walk(SRC);
  if (!files.some((f) => f.rel === 'index.js'))
    throw new Error(`${SRC}/index.js is missing; bundle the cli first`);
  // the bundle is CommonJS, and its boot (bin/hoist runs lib/boot.js) is next to it
  for (const needed of ['package.json', 'boot.js']) {
    if (!files.some((f) => f.rel === needed))
      throw new Error(`${SRC}/${needed} is missing; bundle the cli first`);
  }
  for (const f of files) {
    if (f.dir) entries.push({ name: `lib/${f.rel}/`, type: '5', mode: 0o755, data: Buffer.alloc(0) });
    else {
      // fixed modes, whatever the umask of the machine that built it: only bin/hoist is executed
      entries.push({ name: `lib/${f.rel}`, type: '0', mode: 0o644, data: readFileSync(f.full) });
    }
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const chunks = [];
  for (const e of entries) {
    chunks.push(header(e.name, { size: e.data.length, mode: e.mode, type: e.type }));
    if (e.data.length) {
      chunks.push(e.data);
      const pad = (512 - (e.data.length % 512)) % 512;
      if (pad) chunks.push(Buffer.alloc(pad, 0));
    }
  }
  chunks.push(Buffer.alloc(1024, 0));
  const tar = Buffer.concat(chunks);
  // Node's zlib writes no name and mtime 0 in the gzip header, so equal input gives equal bytes.
  const gz = gzipSync(tar, { level: constants.Z_BEST_COMPRESSION });
  const sha = createHash('sha256').update(gz).digest('hex');

  mkdirSync(OUT, { recursive: true });
  // keep only this version for this os/arch: the server serves what is there
  for (const name of readdirSync(OUT)) {
    const m = /^hoist-(.+)-([a-z0-9]+)-([a-z0-9]+)\.tar\.gz(\.sha256)?$/.exec(name);
    if (m && m[2] === os && m[3] === arch && m[1] !== version) rmSync(join(OUT, name));
  }
  writeFileSync(join(OUT, base), gz);
  writeFileSync(join(OUT, `${base}.sha256`), `${sha}  ${base}\n`);
  return { file: join(OUT, base), sha256: sha, size: gz.length };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = packageCli();
  console.log(`package-cli: ${r.file} ${r.size} bytes sha256 ${r.sha256}`);
}
