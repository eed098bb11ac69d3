import type { Storage } from '@switchboard/server';
import type { WidgetTables } from './tables.js';

/** Widgets in storage, through the typed query layer with this feature's table. */
export class WidgetStore {
  readonly #db;

  constructor(storage: Storage) {
    this.#db = storage.tables<WidgetTables>();
  }

  async add(tenant: string, user: string, name: string): Promise<void> {
    await this.#db.insertInto('test_widgets').values({ tenant, user_id: user, name, created_at: Date.now() }).execute();
  }

  async exists(tenant: string, name: string): Promise<boolean> {
    return (await this.#db.selectFrom('test_widgets').select('name').where('tenant', '=', tenant).where('name', '=', name).executeTakeFirst()) !== undefined;
  }

  async list(tenant: string, user: string): Promise<string[]> {
    const rows = await this.#db.selectFrom('test_widgets').select('name').where('tenant', '=', tenant).where('user_id', '=', user).orderBy('name').execute();
    return rows.map((r) => r.name);
  }
}
