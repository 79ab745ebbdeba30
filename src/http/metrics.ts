import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Db } from '../db/database';
import { serialHeadrooms } from '../services/serialHeadroom';

/** Prometheus metrics (docs/interface.md §6): requests and latency by route and status, the pool. */
export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly latency: Histogram<'method' | 'route' | 'status'>;

  constructor(db?: Db) {
    collectDefaultMetrics({ register: this.registry, prefix: 'tongfu_process_' });
    this.requests = new Counter({
      name: 'tongfu_http_requests_total',
      help: 'HTTP requests answered, by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'tongfu_http_request_duration_seconds',
      help: 'HTTP request latency in seconds, by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    if (db) {
      const pool = (db.client as { pool?: PoolLike }).pool;
      const gauge = (name: string, help: string, read: (p: PoolLike) => number): void => {
        new Gauge({
          name,
          help,
          registers: [this.registry],
          collect() {
            const current = (db.client as { pool?: PoolLike }).pool ?? pool;
            this.set(current ? read(current) : 0);
          },
        });
      };
      gauge('tongfu_db_pool_used_connections', 'database connections in use', (p) => p.numUsed());
      gauge('tongfu_db_pool_free_connections', 'idle database connections in the pool', (p) => p.numFree());
      gauge('tongfu_db_pool_pending_acquires', 'requests waiting for a database connection', (p) => p.numPendingAcquires());
      gauge('tongfu_db_pool_max_connections', 'the pool size limit', (p) => p.max);
      // The share of payCode serials still free per (region, year, notice type), read from the
      // sequences at each scrape; alert below 0.1 (contracts/decisions/0058-pay-code-serials-drawn-last.md).
      new Gauge({
        name: 'tongfu_pay_code_serial_headroom_ratio',
        help: 'share of payCode serials still free, per region, two-digit year and notice type (1 = none used)',
        labelNames: ['region', 'year', 'type'],
        registers: [this.registry],
        async collect() {
          this.reset();
          for (const sequence of await serialHeadrooms(db)) {
            this.set({ region: sequence.regionCode, year: sequence.year2, type: sequence.kind }, sequence.ratio);
          }
        },
      });
    }
  }
}

interface PoolLike {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
  max: number;
}
