#!/usr/bin/env node
import { main } from './main.js';

const argv = process.argv.slice(2);
const code = await main(argv);
if ((argv[0] === 'build' || argv[0] === 'bake') && process.platform === 'linux') {
  // Everything of a build is done (or handed to its background finisher) when main returns: exit
  // now instead of after Node has closed every handle (a stopped follower's pipes among them).
  // Linux is where stdout and stderr are written synchronously to pipes too, so nothing is lost.
  process.exit(code);
}
process.exitCode = code;
