import * as fs from 'node:fs';
import type { BuildPlan } from './args.js';

export interface BuildResult {
  imageId: string | undefined;
  digest: string | undefined;
  metadata: Record<string, unknown> | undefined;
}

/** What buildx wrote to the iidfile and the metadata file, as docker's action reads them. */
export function readBuildResult(plan: Pick<BuildPlan, 'iidFile' | 'metadataFile'>): BuildResult {
  let imageId: string | undefined;
  if (plan.iidFile && fs.existsSync(plan.iidFile)) {
    imageId = fs.readFileSync(plan.iidFile, 'utf8').trim() || undefined;
  }
  let metadata: Record<string, unknown> | undefined;
  if (fs.existsSync(plan.metadataFile)) {
    const text = fs.readFileSync(plan.metadataFile, 'utf8').trim();
    if (text && text !== 'null') {
      try {
        metadata = JSON.parse(text) as Record<string, unknown>;
      } catch {
        metadata = undefined;
      }
    }
  }
  const d = metadata?.['containerimage.digest'];
  return { imageId, digest: typeof d === 'string' ? d : undefined, metadata };
}

export interface BuildInfoFromCli {
  buildId?: string;
  buildUrl?: string;
  /** Per platform, which pool served it and how ("linux/amd64: pool us-west-2, cold cache (...)"). */
  placement?: string[];
}

/**
 * The Hoist build id and URL of a `hoist build` run, from the line the CLI
 * prints on stderr as soon as the build exists (so a failed build has them too).
 */
export function parseBuildInfoFromOutput(output: string): BuildInfoFromCli {
  // `hoist build` announces "hoist: build <id>: <url>" on stderr once the build exists.
  const line = /^hoist: build (\S+): (https?:\/\/\S+)\s*$/m.exec(output);
  // ... and "hoist: builder <platform>: pool <name>[, ...]" once it has a builder.
  const pools = [...output.matchAll(/^hoist: builder (\S+): (pool \S+.*?)\s*$/gm)].map(
    (m) => `${m[1]}: ${m[2]}`,
  );
  return {
    ...(line ? { buildId: line[1], buildUrl: line[2] } : {}),
    ...(pools.length ? { placement: pools } : {}),
  };
}
