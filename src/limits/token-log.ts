import type { TokenEntry, TokenLogView } from "./token-windows";

/** A running sum of the entries inside one window span: amortised O(1) per request, whatever the traffic. */
type Sum = { span: number; from: number; sum: number; at: number };

/**
 * The entries the token windows need (token-windows.ts), in the object's SQLite storage so an evicted
 * object keeps its windows, and in memory (ascending by time) with a running sum per window span for the
 * synchronous check.
 */
export class TokenLog implements TokenLogView {
  entries: TokenEntry[] = [];
  /** Absolute index of entries[0]: sums keep absolute indexes across trims. */
  private offset = 0;
  private readonly byId = new Map<string, TokenEntry>();
  private readonly sums = new Map<number, Sum>();

  constructor(private readonly sql: SqlStorage) {
    sql.exec(
      "create table if not exists token_log (id text primary key, at integer not null, tokens integer not null)",
    );
    this.entries = sql.exec<TokenEntry>("select id, at, tokens from token_log order by at, id").toArray();
    for (const e of this.entries) this.byId.set(e.id, e);
  }

  used(span: number, now: number): number {
    let s = this.sums.get(span);
    if (!s || now < s.at) {
      // First use of this span, or a clock that went back (tests): count from scratch.
      s = { span, from: this.offset, sum: 0, at: now };
      for (const e of this.entries) s.sum += e.tokens;
      this.sums.set(span, s);
    }
    s.at = now;
    const end = this.offset + this.entries.length;
    while (s.from < end) {
      const e = this.entries[s.from - this.offset] as TokenEntry;
      if (e.at > now - span) break;
      s.sum -= e.tokens;
      s.from += 1;
    }
    return s.sum;
  }

  add(id: string, at: number, tokens: number): void {
    this.sql.exec("insert or replace into token_log (id, at, tokens) values (?, ?, ?)", id, at, tokens);
    const e = { id, at, tokens };
    const last = this.entries.at(-1);
    if (last && last.at > at) {
      // Out of order (a clock that went back): keep the log sorted and recount.
      this.entries.push(e);
      this.entries.sort((a, b) => a.at - b.at);
      this.sums.clear();
    } else {
      this.entries.push(e);
      for (const s of this.sums.values()) s.sum += tokens;
    }
    this.byId.set(id, e);
  }

  /** Replaces a request's held tokens with what it really used; unknown ids (trimmed) change nothing. */
  settle(id: string, tokens: number): void {
    const e = this.byId.get(id);
    if (!e) return;
    const next = Math.max(0, tokens);
    // Entries are sorted: those after a sum's start are exactly those later than its last `now − span`.
    for (const s of this.sums.values()) if (e.at > s.at - s.span) s.sum += next - e.tokens;
    e.tokens = next;
    this.sql.exec("update token_log set tokens = ? where id = ?", next, id);
  }

  remove(id: string): void {
    const e = this.byId.get(id);
    if (!e) return;
    this.settle(id, 0);
    this.byId.delete(id);
    this.sql.exec("delete from token_log where id = ?", id);
    // The zeroed entry stays in memory until trimmed: indexes of the running sums stay valid.
  }

  /** Forgets entries no window can see any more (older than `keepMs` before `now`). */
  trim(now: number, keepMs: number): void {
    const cutoff = now - keepMs;
    let drop = 0;
    while (drop < this.entries.length && (this.entries[drop] as TokenEntry).at <= cutoff) drop++;
    if (drop === 0) return;
    const end = this.offset + drop;
    for (const s of this.sums.values()) {
      // Entries leaving the log leave every running sum that still counted them.
      for (; s.from < end; s.from++) s.sum -= (this.entries[s.from - this.offset] as TokenEntry).tokens;
    }
    for (const e of this.entries.slice(0, drop)) this.byId.delete(e.id);
    this.entries.splice(0, drop);
    this.offset = end;
    this.sql.exec("delete from token_log where at <= ?", cutoff);
  }
}
