import type { Migration } from 'kysely';

/**
 * One schema step: its name (recorded once applied, so it runs once per database) and the
 * kysely migration. Names are unique across the shared list and every feature; a feature's
 * own start with the feature's name (`comments_0001_threads`).
 */
export interface NamedMigration extends Migration {
  readonly name: string;
}
