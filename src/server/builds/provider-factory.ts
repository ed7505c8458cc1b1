// Makes the provider the flags ask for. The kubernetes provider (and its API client library) is
// loaded only when asked for, so a local server and the CLI never pay for it at start.
import { LocalProvider } from '../../providers/local.js';
import type { ProviderLogger } from '../../providers/provider-options.js';
import type { Provider } from '../../providers/provider.js';
import type { BuildsConfig } from './config.js';

export interface CreatedProvider {
  provider: Provider;
  /** What the "builds enabled" log line says about it. */
  details: Record<string, unknown>;
}

export async function createProvider(
  config: BuildsConfig,
  dataDir: string,
  logger: ProviderLogger,
): Promise<CreatedProvider> {
  if (config.provider === 'kubernetes') {
    const { kubeconfig, platforms, readyTimeoutMs, namespace, ...settings } = config.kubernetes!;
    const { KubernetesProvider } = await import('../../providers/kubernetes.js');
    const provider = await KubernetesProvider.create({
      kubeconfig,
      platforms,
      // An empty namespace is resolved by the provider (service account, then kubeconfig).
      settings: {
        ...settings,
        namespace: namespace ?? '',
        runNetwork: { ...settings.runNetwork, dns: config.builderDns ?? [] },
      },
      listenHost: config.builderListenHost,
      gatewayPort: config.builderGatewayPort,
      advertiseHost: config.builderAdvertiseHost,
      advertisePort: config.builderAdvertisePort,
      maxUsedSpaceBytes: config.maxUsedSpaceBytes,
      insecureRegistries: config.insecureRegistries,
      dns: config.builderDns,
      readyTimeoutMs,
      logger,
    });
    return {
      provider,
      details: {
        provider: 'kubernetes',
        namespace: provider.namespace,
        image: settings.image,
        clone_mode: settings.cloneMode,
        run_network: settings.runNetwork.mode,
        builder_gateway: provider.gatewayEndpoint,
      },
    };
  }
  const provider = await LocalProvider.create({
    dataDir,
    buildkitdPath: config.buildkitdPath,
    listenHost: config.builderListenHost,
    gatewayPort: config.builderGatewayPort,
    advertiseHost: config.builderAdvertiseHost,
    advertisePort: config.builderAdvertisePort,
    maxUsedSpaceBytes: config.maxUsedSpaceBytes,
    insecureRegistries: config.insecureRegistries,
    limits: config.builderLimits ?? undefined,
    volume: config.builderVolume,
    diskLimitBytes: config.builderDiskLimitBytes,
    network: {
      mode: config.builderNetwork,
      subnetPool: config.builderSubnetPool,
      cniBinDir: config.builderCniBinDir,
    },
    dns: config.builderDns,
    logger,
  });
  if (!config.builderLimits) {
    logger.warn(
      {},
      'builders run without pids, memory or CPU limits (--builder-cgroups off): one build can exhaust the host for every other build and the server',
    );
  }
  return {
    provider,
    details: {
      provider: 'local',
      buildkitd: provider.buildkitdPath,
      builder_gateway: provider.gatewayEndpoint,
      builder_network: provider.networkMode,
    },
  };
}
