import { AgentService } from './agents/agents.ts';
import { loadConfig, type Config } from './config/config.ts';
import type { Database } from './db/database.ts';
import { openDatabase } from './db/open.ts';
import { ExampleService } from './examples/examples.ts';

/**
 * The core every door talks to: the database and the domain services on top of it. Open one per
 * process; it holds no state of its own beyond the database connection.
 */
export class Exemplar {
  readonly agents: AgentService;
  readonly examples: ExampleService;

  private constructor(
    readonly config: Config,
    readonly db: Database,
  ) {
    this.agents = new AgentService(db);
    this.examples = new ExampleService(db, this.agents, config.maxTextBytes);
  }

  /** Opens the configured database (embedded PGlite unless DATABASE_URL is set) and migrates it. */
  static async open(config: Config = loadConfig()): Promise<Exemplar> {
    return new Exemplar(config, await openDatabase(config));
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
