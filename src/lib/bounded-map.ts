/**
 * A Map that forgets its oldest entry once it holds `limit` entries: per-isolate caches must stay bounded
 * whatever the traffic. Re-setting a key does not refresh its age (insertion order is kept).
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly limit: number) {
    super();
  }

  override set(key: K, value: V): this {
    if (!this.has(key) && this.size >= this.limit) {
      const oldest = this.keys().next();
      if (!oldest.done) this.delete(oldest.value);
    }
    return super.set(key, value);
  }
}
