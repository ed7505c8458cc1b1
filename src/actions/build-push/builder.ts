// What the fallback asks the runner's builder before it builds, as docker/build-push-action
// does: `docker buildx inspect [builder]`, read for its driver and each node's BuildKit version.

export interface BuilderNode {
  name: string;
  /** "BuildKit version:" (buildx >= 0.13) or "Buildkit:" (older); absent when not shown. */
  buildkit?: string;
}

export interface BuilderInfo {
  name?: string;
  driver?: string;
  nodes: BuilderNode[];
}

/**
 * Parses `buildx inspect` text output. The first "Name:" is the builder's, each later one
 * starts a node; keys are matched unindented, so labels and GC policies never pass for them.
 */
export function parseBuildxInspect(output: string): BuilderInfo {
  const info: BuilderInfo = { nodes: [] };
  let node: BuilderNode | undefined;
  for (const line of output.trim().split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon).toLowerCase();
    const value = line
      .slice(colon + 1)
      .split(':')
      .map((v) => v.trim())
      .join(':');
    if (key === 'name') {
      if (info.name === undefined) info.name = value;
      else {
        if (node) info.nodes.push(node);
        node = { name: value };
      }
    } else if (key === 'driver') {
      info.driver = value;
    } else if ((key === 'buildkit version' || key === 'buildkit') && node) {
      node.buildkit = value;
    }
  }
  if (node) info.nodes.push(node);
  return info;
}

type Version = [number, number, number];

/**
 * A strict semantic version ("v0.18.2", "0.12.5+unknown"); undefined for anything else
 * ("v0.8+unknown", "", a prerelease such as "0.13.0-rc1", which a plain `>=` range excludes).
 */
export function releaseVersion(text: string): Version | undefined {
  const m = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.exec(
    text.trim(),
  );
  if (!m || m[4]) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

function atLeast(v: Version, min: Version): boolean {
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return (v[i] as number) > (min[i] as number);
  return true;
}

/**
 * Whether every node's BuildKit is at least `min`, as docker's toolkit decides it: a node
 * without a version, or with one that is not a release version, does not qualify; the docker
 * driver qualifies only with moby's own BuildKit, reported as "vX.Y.Z-moby" (Docker 23 and
 * later), so the BuildKit vendored by an older dockerd ("v0.8+unknown") never does.
 */
export function buildkitAtLeast(info: BuilderInfo, min: Version): boolean {
  for (const node of info.nodes) {
    const reported = node.buildkit ?? '';
    if (info.driver === 'docker' && !reported.endsWith('-moby')) return false;
    const v = releaseVersion(reported.replace(/-moby$/, ''));
    if (!v || !atLeast(v, min)) return false;
  }
  return true;
}

/** docker/build-push-action adds its default provenance only from this BuildKit version on. */
export const DEFAULT_PROVENANCE_BUILDKIT: Version = [0, 11, 0];

/** "docker driver, BuildKit v0.8+unknown", for messages. */
export function describeBuilder(info: BuilderInfo): string {
  const versions = [...new Set(info.nodes.map((n) => n.buildkit || 'version unknown'))];
  return `${info.name ?? 'the builder'} (${info.driver ?? 'unknown'} driver, BuildKit ${versions.join(', ') || 'version unknown'})`;
}
