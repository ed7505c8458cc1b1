// Lets `node --import ./test/bench/e2e/register.mjs file.ts` run the benchmark's TypeScript (and
// the test helpers it shares with the suites) without a build step: see ts-hooks.mjs.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
