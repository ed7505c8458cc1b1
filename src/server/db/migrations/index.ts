import type { Migration } from '../types.js';
import { coreSchema } from './001-core.js';
import { projectAutoscaling } from './002-project-autoscaling.js';
import { clusterSchema } from './003-cluster.js';
import { sharedAggregates } from './004-shared-aggregates.js';

/** The server's own migrations, in order. Plugins (builds) append theirs via HoistPlugin.migrations. */
export const coreMigrations: Migration[] = [coreSchema, projectAutoscaling, clusterSchema, sharedAggregates];
