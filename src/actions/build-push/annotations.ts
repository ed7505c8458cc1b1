// Build-check warnings as GitHub warning annotations, as docker/build-push-action makes them
// (DOCKER_BUILD_CHECKS_ANNOTATIONS, on by default): each warning buildx wrote to the metadata
// file (`buildx.build.warnings`, with BUILDX_METADATA_WARNINGS=true) is annotated on its
// Dockerfile and first line, when that Dockerfile is one this repository's workflow can link to.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A warning as BuildKit reports it; `short`, `detail` and `sourceInfo.data` are base64. */
export interface VertexWarning {
  short?: string;
  detail?: string[];
  url?: string;
  sourceInfo?: { filename?: string; data?: string };
  range?: { start?: { line?: number } }[];
}

/** What buildx saves of a build under `<buildx config>/refs/<builder>/<node>/<ref id>`. */
export interface LocalState {
  LocalPath: string;
  DockerfilePath: string;
}

/** A Dockerfile a warning may point at: relative to the workspace, or in this repository's Git context. */
export interface DockerfileRef {
  path: string;
  /** base64 of its content; a warning matches only a Dockerfile with the same bytes. */
  content?: string;
  /** In the Git context of this repository: its content cannot be read, so any warning matches. */
  remote?: boolean;
}

export interface Annotation {
  title: string;
  message: string;
  file: string;
  startLine?: number;
}

export function metadataWarnings(metadata: Record<string, unknown> | undefined): VertexWarning[] {
  const w = metadata?.['buildx.build.warnings'];
  return Array.isArray(w) ? (w as VertexWarning[]) : [];
}

export function metadataRef(metadata: Record<string, unknown> | undefined): string | undefined {
  const r = metadata?.['buildx.build.ref'];
  return typeof r === 'string' && r ? r : undefined;
}

const REMOTE_CONTEXT = /^(?:https?:\/\/|git@|git:\/\/|ssh:\/\/|github\.com\/)/;

/**
 * The local state buildx saves for a build of this context and `--file`: absolute paths for a
 * local context, both as given for a remote one, '' for no `--file`. Used on Hoist, whose
 * temporary builder (and with it the saved state) is removed when `hoist build` ends.
 */
export function localStateFor(context: string, file: string, cwd: string): LocalState {
  const remote = REMOTE_CONTEXT.test(context);
  const local = !remote && context !== '-';
  return {
    LocalPath: local ? path.resolve(cwd, context) : context,
    DockerfilePath: file && local && file !== '-' ? path.resolve(cwd, file) : file,
  };
}

/** The saved state of a build ref ("builder/node/id"), as buildx wrote it; undefined if none. */
export function readLocalState(ref: string, refsDir: string): LocalState | undefined {
  const [builder, node, id] = ref.split('/');
  if (!builder || !node || !id) return undefined;
  try {
    const s = JSON.parse(
      fs.readFileSync(path.join(refsDir, builder, node, id), 'utf8'),
    ) as Partial<LocalState>;
    return fixLocalState({ LocalPath: s.LocalPath ?? '', DockerfilePath: s.DockerfilePath ?? '' });
  } catch {
    return undefined;
  }
}

/** buildx's refs dir: BUILDX_CONFIG, else `buildx` in the docker config dir. */
export function buildxRefsDir(env: Record<string, string | undefined>, home: string): string {
  const config = env.BUILDX_CONFIG || path.join(env.DOCKER_CONFIG || path.join(home, '.docker'), 'buildx');
  return path.join(config, 'refs');
}

/**
 * Older buildx made a remote context absolute ("/work/https:/github.com/o/r.git"): the URL is
 * taken back out of it, and a "-" (stdin) path read as "-".
 */
export function fixLocalState(ls: LocalState): LocalState {
  let { LocalPath, DockerfilePath } = ls;
  const m = /(.*)(https?:\/{1,2}\S+|ssh:\/{1,2}\S+|git:\/{1,2}\S+)/i.exec(LocalPath);
  if (m) {
    const prefix = m[1] as string;
    LocalPath = (m[2] as string).replace(/^(https?|ssh|git):\/(?!\/)/i, '$1://');
    if (DockerfilePath.startsWith(prefix)) DockerfilePath = DockerfilePath.slice(prefix.length);
  }
  if (LocalPath.endsWith('/-')) LocalPath = '-';
  if (DockerfilePath.endsWith('/-')) DockerfilePath = '-';
  return { LocalPath, DockerfilePath };
}

export interface DockerfileFacts {
  /** GITHUB_WORKSPACE, else the working directory: annotations name files relative to it. */
  workspace: string;
  /** owner/name of the run. */
  repository: string;
  /** The working directory, against which relative paths resolve. */
  cwd: string;
  /** The file's content, undefined when it does not exist. */
  readFile: (file: string) => string | undefined;
}

/**
 * The Dockerfile of a build's local state, if a warning can be annotated on it: a Git context
 * of this very repository on GitHub (or GHE.com), or a local file inside the workspace. A
 * Dockerfile read from stdin, another repository or a file outside the workspace has none.
 */
export function dockerfileOf(ls: LocalState, f: DockerfileFacts): DockerfileRef | undefined {
  if (ls.DockerfilePath === '-') return undefined;
  // buildx saves '' for no --file; docker's action then looks for ./Dockerfile.
  const dockerfile = ls.DockerfilePath || 'Dockerfile';
  const git = gitRemote(ls.LocalPath);
  if (git) {
    const host = git.host.replace(/:.*/, '');
    if (host !== 'github.com' && !host.endsWith('.ghe.com')) return undefined;
    if (git.path.replace(/^\//, '').replace(/\.git$/, '') !== f.repository) return undefined;
    return { path: dockerfile, remote: true };
  }
  const abs = path.resolve(f.cwd, dockerfile);
  const content = f.readFile(abs);
  if (content === undefined) return undefined;
  const workspace = path.resolve(f.cwd, f.workspace);
  if (!abs.startsWith(workspace.endsWith(path.sep) ? workspace : `${workspace}${path.sep}`)) return undefined;
  return { path: path.relative(workspace, abs), content: Buffer.from(content, 'utf8').toString('base64') };
}

/** host and path of a Git URL of a protocol BuildKit fetches (http, https, ssh, git). */
function gitRemote(url: string): { host: string; path: string } | undefined {
  const proto = /^([a-zA-Z0-9]+):\/\//.exec(url)?.[1]?.toLowerCase();
  if (!proto || !['http', 'https', 'ssh', 'git'].includes(proto)) return undefined;
  try {
    const u = new URL(url);
    return { host: `${u.hostname}${u.port ? `:${u.port}` : ''}`, path: u.pathname };
  } catch {
    return undefined;
  }
}

const decode = (b64: string): string => Buffer.from(b64, 'base64').toString('utf8');

/**
 * One annotation per warning that names its Dockerfile (by file name and identical content, or
 * any warning for a Git context): the detail is the title, the short text without its
 * "(line N)" the message, plus the check's documentation link, on the first line of its range.
 */
export function buildCheckAnnotations(warnings: VertexWarning[], dockerfiles: DockerfileRef[]): Annotation[] {
  const out: Annotation[] = [];
  if (dockerfiles.length === 0) return out;
  for (const w of warnings) {
    if (!w.detail || !w.short) continue;
    const filename = w.sourceInfo?.filename;
    const data = w.sourceInfo?.data;
    if (!filename || !data) continue;
    const title = w.detail.map(decode).join(' ');
    let message = decode(w.short).replace(/\s\(line \d+\)$/, '');
    if (w.url) message += `\nMore info: ${w.url}`;
    const startLine = w.range?.[0]?.start?.line;
    const target = dockerfiles.find((d) => d.remote || (d.path.endsWith(filename) && d.content === data));
    if (target) out.push({ title, message, file: target.path, ...(startLine ? { startLine } : {}) });
  }
  return out;
}
