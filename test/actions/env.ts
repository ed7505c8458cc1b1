// Test helpers: set action inputs the way the runner does, through INPUT_* variables.

/** The variable @actions/core reads for an input name. */
export function inputVar(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}

/** Removes every INPUT_* variable, then sets the given inputs. */
export function setInputs(inputs: Record<string, string>): void {
  for (const key of Object.keys(process.env)) if (key.startsWith('INPUT_')) delete process.env[key];
  for (const [name, value] of Object.entries(inputs)) process.env[inputVar(name)] = value;
}

/** Sets (or, for undefined, removes) environment variables; returns what puts them back. */
function setEnv(vars: Record<string, string | undefined>): () => void {
  const saved: Record<string, string | undefined> = {};
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  for (const k of Object.keys(vars)) saved[k] = process.env[k];
  apply(vars);
  return () => apply(saved);
}

/** Runs fn with some environment variables set (or removed with undefined), then restores them. */
export function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const restore = setEnv(vars);
  try {
    return fn();
  } finally {
    restore();
  }
}

/** withEnv for an async function: the variables stay set until its promise settles. */
export async function withEnvAsync<T>(
  vars: Record<string, string | undefined>,
  fn: () => Promise<T>,
): Promise<T> {
  const restore = setEnv(vars);
  try {
    return await fn();
  } finally {
    restore();
  }
}
