// Bundles every entry with ncc into dist/<name>/index.js: the actions and the server as ES modules,
// the CLI as CommonJS (with lib/boot.js, below), then packs the CLI's release tarball.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const entries = {
  setup: 'src/actions/setup/index.ts',
  'build-push': 'src/actions/build-push/index.ts',
  bake: 'src/actions/bake/index.ts',
  cli: 'src/cli/index.ts',
  server: 'src/server/index.ts',
};

/**
 * The CLI is CommonJS: its start (every `hoist build`) then skips Node's ES module loader, and its
 * boot (src/cli/boot.cjs) can compile it with a V8 code cache, which Node 20 offers for scripts
 * only. ncc's command line picks ES modules for this package ("type": "module"); its API is told.
 */
async function bundleCli(entry, out) {
  const ncc = createRequire(import.meta.url)('@vercel/ncc');
  const { code, assets, symlinks } = await ncc(resolve(entry), {
    esm: false,
    license: 'licenses.txt',
    quiet: true,
  });
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'index.js'), code, { mode: 0o755 });
  for (const [name, asset] of Object.entries(assets)) {
    mkdirSync(dirname(join(out, name)), { recursive: true });
    writeFileSync(join(out, name), asset.source);
    if (asset.permissions) chmodSync(join(out, name), asset.permissions);
  }
  if (Object.keys(symlinks ?? {}).length) throw new Error(`${entry}: the bundle has symlinks`);
  // the repository's package.json says "module": this directory's files are CommonJS
  writeFileSync(join(out, 'package.json'), '{\n  "type": "commonjs"\n}\n');
  // the boot knows its bundle by hash: a code cache made for another bundle is never used
  const sha = createHash('sha256').update(code).digest('hex');
  const boot = readFileSync('src/cli/boot.cjs', 'utf8');
  const marker = "const BUNDLE_SHA256 = '';";
  if (!boot.includes(marker)) throw new Error(`src/cli/boot.cjs lacks ${marker}`);
  writeFileSync(join(out, 'boot.js'), boot.replace(marker, `const BUNDLE_SHA256 = '${sha}';`));
}

const only = process.argv.slice(2);
for (const [name, entry] of Object.entries(entries)) {
  if (only.length && !only.includes(name)) continue;
  if (!existsSync(entry)) throw new Error(`entry ${entry} is missing`);
  rmSync(`dist/${name}`, { recursive: true, force: true });
  if (name === 'cli') {
    await bundleCli(entry, `dist/${name}`);
    continue;
  }
  execFileSync(
    process.execPath,
    [
      'node_modules/@vercel/ncc/dist/ncc/cli.js',
      'build',
      entry,
      '-o',
      `dist/${name}`,
      '--license',
      'licenses.txt',
      '--quiet',
    ],
    { stdio: 'inherit' },
  );
}
if (!only.length || only.includes('cli')) (await import('./package-cli.mjs')).packageCli();
