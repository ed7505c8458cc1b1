// Bundles every entry with ncc into dist/<name>/index.js (ES modules).
import { execFileSync } from 'node:child_process';
import { rmSync, existsSync } from 'node:fs';

export const entries = {
  setup: 'src/actions/setup/index.ts',
  'build-push': 'src/actions/build-push/index.ts',
  bake: 'src/actions/bake/index.ts',
  cli: 'src/cli/index.ts',
  server: 'src/server/index.ts',
};

const only = process.argv.slice(2);
for (const [name, entry] of Object.entries(entries)) {
  if (only.length && !only.includes(name)) continue;
  if (!existsSync(entry)) throw new Error(`entry ${entry} is missing`);
  rmSync(`dist/${name}`, { recursive: true, force: true });
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
