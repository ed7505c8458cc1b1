import { describe, expect, it } from '@jest/globals';
import {
  buildkitAtLeast,
  DEFAULT_PROVENANCE_BUILDKIT,
  describeBuilder,
  parseBuildxInspect,
  releaseVersion,
  type BuilderInfo,
} from '../../src/actions/build-push/builder.js';

// `buildx inspect` as buildx prints it (tab-aligned by a tabwriter), per driver.
const DOCKER_20_10 = `Name:          default
Driver:        docker
Last Activity: 2026-11-29 13:02:11 +0000 UTC

Nodes:
Name:             default
Endpoint:         default
Status:           running
BuildKit version: v0.8+unknown
Platforms:        linux/amd64, linux/386
Labels:
 org.mobyproject.buildkit.worker.moby.host-gateway-ip: 172.17.0.1
`;

const DOCKER_27 = DOCKER_20_10.replace('v0.8+unknown', 'v0.15.2-moby');

const REMOTE_TWO_NODES = `Name:          hoist-ab12
Driver:        remote
Last Activity: 2026-11-29 13:05:40 +0000 UTC

Nodes:
Name:             hoist-ab12-amd64
Endpoint:         tcp://127.0.0.1:40123
Driver Options:   cacert="/tmp/ca.pem" cert="/tmp/cert.pem" key="/tmp/key.pem" servername="127.0.0.1"
Status:           running
BuildKit version: v0.18.2
Platforms:        linux/amd64*, linux/amd64/v2
Labels:
 name: hoist-ab12-amd64
 org.mobyproject.buildkit.worker.executor: oci
GC Policy rule#0:
 All:            false
 Keep Duration:  48h0m0s

Name:             hoist-ab12-arm64
Endpoint:         tcp://127.0.0.1:40124
Status:           running
BuildKit version: v0.10.6
Platforms:        linux/arm64*
`;

// buildx before 0.13 named the field "Buildkit".
const CONTAINER_OLD_BUILDX = `Name:   builder
Driver: docker-container

Nodes:
Name:      builder0
Endpoint:  unix:///var/run/docker.sock
Status:    running
Buildkit:  v0.12.5
Platforms: linux/amd64
`;

const CONTAINER_INACTIVE = `Name:          builder
Driver:        docker-container
Last Activity: 2026-11-29 13:05:40 +0000 UTC

Nodes:
Name:      builder0
Endpoint:  unix:///var/run/docker.sock
Status:    inactive
`;

describe('parseBuildxInspect', () => {
  it.each([
    [
      DOCKER_20_10,
      { name: 'default', driver: 'docker', nodes: [{ name: 'default', buildkit: 'v0.8+unknown' }] },
    ],
    [
      REMOTE_TWO_NODES,
      {
        name: 'hoist-ab12',
        driver: 'remote',
        nodes: [
          { name: 'hoist-ab12-amd64', buildkit: 'v0.18.2' },
          { name: 'hoist-ab12-arm64', buildkit: 'v0.10.6' },
        ],
      },
    ],
    [
      CONTAINER_OLD_BUILDX,
      { name: 'builder', driver: 'docker-container', nodes: [{ name: 'builder0', buildkit: 'v0.12.5' }] },
    ],
    [CONTAINER_INACTIVE, { name: 'builder', driver: 'docker-container', nodes: [{ name: 'builder0' }] }],
    ['', { nodes: [] }],
  ])('reads builder, driver and node versions (%#)', (out, expected) => {
    expect(parseBuildxInspect(out)).toEqual(expected);
  });

  it('does not take an indented label called "name" for a node', () => {
    expect(parseBuildxInspect(REMOTE_TWO_NODES).nodes.map((n) => n.name)).toEqual([
      'hoist-ab12-amd64',
      'hoist-ab12-arm64',
    ]);
  });
});

describe('releaseVersion', () => {
  it.each([
    ['v0.18.2', [0, 18, 2]],
    ['0.11.0', [0, 11, 0]],
    ['v0.12.5+unknown', [0, 12, 5]],
    [' v1.2.3 ', [1, 2, 3]],
    ['v0.8+unknown', undefined],
    ['v0.13.0-rc1', undefined],
    ['', undefined],
    ['v01.2.3', undefined],
    ['moby/buildkit:buildx-stable-1 => buildkitd github.com/moby/buildkit v0.18.2', undefined],
  ])('%j', (text, expected) => {
    expect(releaseVersion(text)).toEqual(expected);
  });
});

describe('buildkitAtLeast 0.11 (docker action’s condition for its default provenance)', () => {
  const one = (driver: string, buildkit?: string): BuilderInfo => ({
    name: 'b',
    driver,
    nodes: [{ name: 'b0', ...(buildkit === undefined ? {} : { buildkit }) }],
  });
  it.each<[string, BuilderInfo, boolean]>([
    ['docker driver of dockerd 20.10 (v0.8+unknown)', parseBuildxInspect(DOCKER_20_10), false],
    ['docker driver of a Docker with moby BuildKit 0.15', parseBuildxInspect(DOCKER_27), true],
    ['docker driver: a version without -moby never qualifies', one('docker', 'v0.18.2'), false],
    ['docker driver of moby BuildKit 0.10', one('docker', 'v0.10.0-moby'), false],
    ['docker-container 0.11.0 exactly', one('docker-container', 'v0.11.0'), true],
    ['docker-container 0.10.6', one('docker-container', 'v0.10.6'), false],
    ['remote 0.18.2', one('remote', 'v0.18.2'), true],
    ['remote 0.13 release candidate', one('remote', 'v0.13.0-rc2'), false],
    ['buildx < 0.13 field name', parseBuildxInspect(CONTAINER_OLD_BUILDX), true],
    ['node without a version (not booted)', parseBuildxInspect(CONTAINER_INACTIVE), false],
    ['every node must qualify', parseBuildxInspect(REMOTE_TWO_NODES), false],
    ['no nodes', { name: 'b', driver: 'remote', nodes: [] }, true],
  ])('%s', (_name, info, expected) => {
    expect(buildkitAtLeast(info, DEFAULT_PROVENANCE_BUILDKIT)).toBe(expected);
  });
});

describe('describeBuilder', () => {
  it('names the builder, its driver and its versions', () => {
    expect(describeBuilder(parseBuildxInspect(DOCKER_20_10))).toBe(
      'default (docker driver, BuildKit v0.8+unknown)',
    );
    expect(describeBuilder(parseBuildxInspect(CONTAINER_INACTIVE))).toBe(
      'builder (docker-container driver, BuildKit version unknown)',
    );
  });
});
