import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Exemplar } from '../exemplar.ts';

/**
 * Prometheus metrics of one server process. Latencies are observed where requests and operations
 * pass through the doors; sync lag and cache figures are read fresh at each scrape.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Histogram({
    name: 'exemplar_http_request_duration_seconds',
    help: 'HTTP request latency, by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly operations = new Histogram({
    name: 'exemplar_operation_duration_seconds',
    help: 'Operation latency (search_examples is retrieval latency), by operation and outcome',
    labelNames: ['operation', 'outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
    registers: [this.registry],
  });
  readonly toolCalls = new Counter({
    name: 'exemplar_mcp_tool_calls_total',
    help: 'MCP tool calls, by tool and outcome',
    labelNames: ['tool', 'outcome'] as const,
    registers: [this.registry],
  });

  constructor(app: Exemplar) {
    collectDefaultMetrics({ register: this.registry, prefix: 'exemplar_' });
    // From the index's own status: index_outbox keeps changes every replica has applied (for the
    // retention window), so its row count is not what is waiting.
    new Gauge({
      name: 'exemplar_sync_outbox_depth',
      help: 'Changes not yet in the index, summed over agents (the worst live replica, as index status reports)',
      registers: [this.registry],
      async collect() {
        const status = await app.index.status();
        this.set(status.reduce((n, s) => n + s.lagChanges, 0));
        lag.set(status.reduce((m, s) => Math.max(m, s.lagSeconds ?? 0), 0));
      },
    });
    const lag = new Gauge({ name: 'exemplar_sync_lag_seconds', help: 'Age of the oldest change not yet in the index', registers: [this.registry] });
    new Gauge({
      name: 'exemplar_embedding_cache_hit_ratio',
      help: 'Embedding cache hits / (hits + misses) since start (cacheable providers only)',
      registers: [this.registry],
      collect() {
        const { hits, misses } = app.index.cacheStats();
        this.set(hits + misses === 0 ? 0 : hits / (hits + misses));
      },
    });
    new Gauge({
      name: 'exemplar_embedding_cache_lookups',
      help: 'Embedding cache lookups since start, by result',
      labelNames: ['result'],
      registers: [this.registry],
      collect() {
        const { hits, misses } = app.index.cacheStats();
        this.set({ result: 'hit' }, hits);
        this.set({ result: 'miss' }, misses);
      },
    });
  }

  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
