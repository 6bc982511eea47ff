import { inject } from 'vitest';

/**
 * Setup file of the `cluster` project: every test system of the file runs on the project's Redis
 * Cluster and NATS cluster, with streams replicated on all three NATS nodes. A test that names
 * its own REDIS_URL or NATS_URL still gets those.
 */
const cluster = inject('cluster');
process.env['REDIS_URL'] = cluster.redisUrl;
process.env['NATS_URL'] = cluster.natsUrl;
process.env['JETSTREAM_REPLICAS'] = '3';
/** Read by startTestSystem, which refuses to start a system of this project on a single Redis. */
process.env['TEST_EXPECTS_CLUSTER'] = 'true';
