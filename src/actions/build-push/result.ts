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
}

/**
 * The Hoist build id and URL of a `hoist build` run: from the JSON file named
 * by HOIST_BUILD_INFO_FILE, else from `hoist.build.*` keys of the metadata
 * file, else from a build URL the CLI printed.
 */
export function findBuildInfo(infoFile: string, output: string, metadataFile: string): BuildInfoFromCli {
  const fromJson = (obj: Record<string, unknown>): BuildInfoFromCli => {
    const id = obj.build_id ?? obj.buildId ?? obj.id ?? obj['hoist.build.id'];
    const url = obj.build_url ?? obj.buildUrl ?? obj.url ?? obj['hoist.build.url'];
    return {
      ...(typeof id === 'string' && id ? { buildId: id } : {}),
      ...(typeof url === 'string' && url ? { buildUrl: url } : {}),
    };
  };
  for (const file of [infoFile, metadataFile]) {
    try {
      const info = fromJson(JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>);
      if (info.buildId || info.buildUrl) return info;
    } catch {
      // absent or not JSON
    }
  }
  return parseBuildInfoFromOutput(output);
}

export function parseBuildInfoFromOutput(output: string): BuildInfoFromCli {
  // `hoist build` announces "hoist: build <id>: <url>" on stderr once the build exists.
  const line = /^hoist: build (\S+): (https?:\/\/\S+)\s*$/m.exec(output);
  if (line) return { buildId: line[1], buildUrl: line[2] };
  const url = /(https?:\/\/[^\s"'<>]*\/builds\/([A-Za-z0-9_.-]+))/.exec(output);
  if (url) return { buildUrl: url[1], buildId: url[2] };
  const id = /\bbuild[ _-]?id[:=\s]+"?([A-Za-z0-9_.-]{6,})/i.exec(output);
  return id ? { buildId: id[1] } : {};
}
