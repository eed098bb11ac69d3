/** Local connections by tenant and user, for commands that act on a user's connections. */
export class UserIndex<C> {
  readonly #byUser = new Map<string, Set<C>>();

  add(tenant: string, user: string, client: C): void {
    const key = `${tenant}|${user}`;
    let set = this.#byUser.get(key);
    if (!set) {
      set = new Set();
      this.#byUser.set(key, set);
    }
    set.add(client);
  }

  delete(tenant: string, user: string, client: C): void {
    const key = `${tenant}|${user}`;
    const set = this.#byUser.get(key);
    set?.delete(client);
    if (set?.size === 0) this.#byUser.delete(key);
  }

  of(tenant: string, user: string): ReadonlySet<C> {
    return this.#byUser.get(`${tenant}|${user}`) ?? new Set();
  }
}
