import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type pg from 'pg';
import { RateLimiterPostgres } from 'rate-limiter-flexible';

/**
 * express-rate-limit's counters in PostgreSQL, so every API instance counts against one limit. The atomic upsert
 * per hit is rate-limiter-flexible's; the table is the migration's (migrations/…_deploy-rate-limits.sql), since the
 * app role may not create tables.
 */
export class PostgresRateLimitStore implements Store {
  readonly localKeys = false;
  private limiter?: RateLimiterPostgres;

  constructor(
    private readonly pool: pg.Pool,
    readonly prefix = 'writes',
  ) {}

  init(options: Options): void {
    this.limiter = new RateLimiterPostgres({
      storeClient: this.pool,
      storeType: 'pool',
      tableName: 'rate_limits',
      tableCreated: true,
      keyPrefix: this.prefix,
      points: typeof options.limit === 'number' ? options.limit : 0,
      duration: Math.ceil(options.windowMs / 1000),
    });
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    // A penalty counts a hit and never refuses: express-rate-limit compares the count with the limit itself.
    const res = await this.counter().penalty(key, 1);
    return { totalHits: res.consumedPoints, resetTime: new Date(Date.now() + res.msBeforeNext) };
  }

  async decrement(key: string): Promise<void> {
    await this.counter().reward(key, 1);
  }

  async resetKey(key: string): Promise<void> {
    await this.counter().delete(key);
  }

  private counter(): RateLimiterPostgres {
    if (!this.limiter) throw new Error('The rate limit store is used before express-rate-limit initialised it.');
    return this.limiter;
  }
}
