// Rebuilds dist/ and fails when it differs from what is committed.
import { execFileSync, spawnSync } from 'node:child_process';

execFileSync('npm', ['run', 'build'], { stdio: 'inherit' });
const status = execFileSync('git', ['status', '--porcelain', '--', 'dist'], { encoding: 'utf8' });
if (status.trim()) {
  spawnSync('git', ['--no-pager', 'diff', '--stat', '--', 'dist'], { stdio: 'inherit' });
  console.error(
    `check-dist: dist/ differs from the committed bundles:\n${status}\nRun "npm run build" and commit dist/.`,
  );
  process.exit(1);
}
console.log('check-dist: dist/ matches the sources.');
