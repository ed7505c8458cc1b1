// The leader of a deployment's replicas: created once per server, started after every plugin
// registered its handlers, stopped after their shutdown hooks ran.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Db } from '../db/index.js';
import { PostgresDb } from '../db/postgres.js';
import { type Clock, randomHex } from '../util.js';
import { type Leader, replicaIdOf, SingleLeader } from './leader.js';
import { PgLeader } from './pg-leader.js';

export { type Leader, type LeaderStatus, SingleLeader, leaseHeld } from './leader.js';

export function createLeader(opts: {
  db: Db;
  clock: Clock;
  logger: Logger;
  metrics?: Registry;
  /** HOIST_REPLICA_ID, else host, pid and a random suffix. */
  replicaId?: string;
}): Leader {
  const id = replicaIdOf(opts.replicaId, hostname(), process.pid, randomHex(3));
  const log = opts.logger.child({ component: 'cluster' });
  const takeovers = opts.metrics
    ? new Counter({
        name: 'hoist_leader_elections_total',
        help: 'Times this replica became the leader (took the lease)',
        registers: [opts.metrics],
      })
    : null;
  const leader =
    opts.db instanceof PostgresDb
      ? new PgLeader({
          url: opts.db.url,
          replicaId: id,
          clock: opts.clock,
          logger: log,
          onTakeover: () => takeovers?.inc(),
        })
      : new SingleLeader(id, opts.clock, log);
  if (opts.metrics) {
    new Gauge({
      name: 'hoist_leader',
      help: '1 while this replica is the leader (runs reconciliation and the sweeps), else 0',
      registers: [opts.metrics],
      collect() {
        this.set(leader.isLeader() ? 1 : 0);
      },
    });
    if (!(leader instanceof PgLeader)) leader.onElected(() => takeovers?.inc());
  }
  return leader;
}
