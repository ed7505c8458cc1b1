// NODE_EXTRA_CA_CERTS, read when Hoist opens an https connection rather than at every start.
//
// Node parses every certificate of that file before it runs any JavaScript: with a system bundle
// there (as on runners behind a TLS-inspecting proxy) that is tens of ms on every `hoist build`,
// most of which never opens an https connection (a plain-HTTP server, loopback or in-cluster). The
// release's launcher (bin/hoist) moves the variable to HOIST_NODE_EXTRA_CA_CERTS for build and
// bake; the CLI takes it back here: the file is added to what https requests trust (trust.ts),
// and the variable is set again for the programs Hoist runs.

/** The variable the launcher moves NODE_EXTRA_CA_CERTS to. */
export const DEFERRED_EXTRA_CA_VAR = 'HOIST_NODE_EXTRA_CA_CERTS';

let deferredFile: string | undefined;

/**
 * At start: a NODE_EXTRA_CA_CERTS the launcher deferred is remembered for https requests and put
 * back into `env` (for child processes), as if Node had read it.
 */
export function adoptDeferredExtraCa(env: NodeJS.ProcessEnv): void {
  const file = env[DEFERRED_EXTRA_CA_VAR];
  if (file === undefined) return;
  delete env[DEFERRED_EXTRA_CA_VAR];
  if (!file) return;
  deferredFile = file;
  env.NODE_EXTRA_CA_CERTS = file;
}

/** The NODE_EXTRA_CA_CERTS file Node did not load at start, if the launcher deferred one. */
export function deferredExtraCaFile(): string | undefined {
  return deferredFile;
}

/**
 * The environment for another Hoist CLI process: the deferral passed on, so that it too reads the
 * file only if it opens an https connection.
 */
export function withDeferredExtraCa(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (!deferredFile) return env;
  return { ...env, NODE_EXTRA_CA_CERTS: undefined, [DEFERRED_EXTRA_CA_VAR]: deferredFile };
}

/** For tests: forget what was adopted. */
export function resetDeferredExtraCa(): void {
  deferredFile = undefined;
}
