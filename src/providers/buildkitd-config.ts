// buildkitd.toml as Hoist writes it for every builder, whichever provider runs it: the OCI worker
// only, a GC policy bounded by the builder's cap, plain-HTTP registries (tests), nameservers, and
// on the local provider the builder's cgroup and CNI network.
function tomlString(s: string): string {
  return JSON.stringify(s);
}

/** buildkitd.toml: OCI worker only, a GC policy bounded by `maxUsed`, plain-HTTP registries for tests. */
export function renderBuildkitdConfig(opts: {
  maxUsedSpaceBytes: number;
  insecureRegistries: string[];
  /** runc puts RUN-step containers in <it>/buildkit/<id>: inside the builder's cgroup, not the root. */
  cgroupParent?: string;
  dns?: string[];
  cni?: { configPath: string; binaryDir: string } | null;
}): string {
  const max = String(opts.maxUsedSpaceBytes);
  // Like buildkitd's default policy: first drop old local context, cache mounts and git
  // checkouts, then anything unused, always bounded by maxUsedSpace.
  const lines = [
    '# Written by hoist; rewritten on every start.',
    '[worker.oci]',
    '  enabled = true',
    '  gc = true',
    ...(opts.cgroupParent ? [`  defaultCgroupParent = ${tomlString(opts.cgroupParent)}`] : []),
    `  maxUsedSpace = ${tomlString(max)}`,
    // Keys of [worker.oci] itself: they must come before its [[worker.oci.gcpolicy]] tables.
    ...(opts.cni
      ? [
          '  networkMode = "cni"',
          `  cniConfigPath = ${tomlString(opts.cni.configPath)}`,
          `  cniBinaryPath = ${tomlString(opts.cni.binaryDir)}`,
        ]
      : []),
    '  [[worker.oci.gcpolicy]]',
    `    maxUsedSpace = ${tomlString(max)}`,
    '    keepDuration = "48h"',
    '    filters = ["type==source.local", "type==exec.cachemount", "type==source.git.checkout"]',
    '  [[worker.oci.gcpolicy]]',
    `    maxUsedSpace = ${tomlString(max)}`,
    '    keepDuration = "1440h"',
    '  [[worker.oci.gcpolicy]]',
    `    maxUsedSpace = ${tomlString(max)}`,
    '    all = true',
    '[worker.containerd]',
    '  enabled = false',
  ];
  for (const reg of opts.insecureRegistries) {
    lines.push(`[registry.${tomlString(reg)}]`, '  http = true', '  insecure = true');
  }
  if (opts.dns && opts.dns.length > 0) {
    lines.push('[dns]', `  nameservers = [${opts.dns.map(tomlString).join(', ')}]`);
  }
  return lines.join('\n') + '\n';
}
