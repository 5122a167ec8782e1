import { type Amount, EMPTY_LEDGER, type Ledger, toNanos } from "./budget";

/**
 * A Durable Object's ledger in its own SQLite storage, shared by the token's and the project's objects:
 * request count and settled usage in the KV table (one small value), open reservations as rows, so an
 * evicted object comes back with every hold intact. All methods are synchronous: storage writes of a
 * Durable Object are ordered and committed together, so check-and-count never awaits.
 */

const COUNTERS_KEY = "counters";
/** Settled and expired reservations stay this long so a late or repeated settle is recognised. */
const KEEP_CLOSED_MS = 24 * 3_600_000;

type Counters = { requests: number; lastUsedAt: number | null; tokensUsed?: number; costUsedNanos?: number };

export type ReservationRow = {
  id: string;
  tokens: number;
  cost: number;
  project: string | null;
  created_at: number;
  expires_at: number;
  state: "open" | "expired" | "settled";
};

export type Settled = { project: string | null } | null;

/**
 * What a finished request is charged. `reported`: usage the upstream reported (or a price the request
 * fixed), charged exactly. Otherwise the most the gateway can see was used (request and streamed bytes),
 * and the hold instead when it is larger.
 */
export type Charge = { tokens: number; costUsd: number | null; reported: boolean };

export class LedgerStore {
  ledger: Ledger;
  lastUsedAt: number | null;

  constructor(private readonly storage: DurableObjectStorage) {
    storage.sql.exec(`create table if not exists reservations (
      id text primary key, tokens integer not null, cost integer not null, project text,
      created_at integer not null, expires_at integer not null, state text not null)`);
    storage.sql.exec("create index if not exists reservations_expiry on reservations (state, expires_at)");
    const c = storage.kv.get<Counters>(COUNTERS_KEY) ?? { requests: 0, lastUsedAt: null };
    const open = storage.sql
      .exec<{ tokens: number | null; cost: number | null }>(
        "select sum(tokens) as tokens, sum(cost) as cost from reservations where state = 'open'",
      )
      .one();
    this.lastUsedAt = c.lastUsedAt;
    this.ledger = {
      ...EMPTY_LEDGER,
      requests: c.requests,
      tokensUsed: c.tokensUsed ?? 0,
      costUsedNanos: c.costUsedNanos ?? 0,
      tokensReserved: open.tokens ?? 0,
      costReservedNanos: open.cost ?? 0,
    };
  }

  /** Counts requests an isolate admitted from its cache (they were served: always counted). */
  addServed(n: number, now: number, persist: boolean): void {
    this.ledger.requests += n;
    this.lastUsedAt = now;
    if (persist) this.saveCounters();
    else this.dirty = true;
  }

  /** Writes counts kept in memory by `admit(…, persist = false)`. */
  flush(): void {
    if (this.dirty) this.saveCounters();
  }

  private saveCounters(): void {
    this.dirty = false;
    const { requests, tokensUsed, costUsedNanos } = this.ledger;
    this.storage.kv.put<Counters>(COUNTERS_KEY, {
      requests,
      lastUsedAt: this.lastUsedAt,
      tokensUsed,
      costUsedNanos,
    });
  }

  /** Counts not yet written to storage (see `admit` with `persist: false`). */
  private dirty = false;

  /**
   * Counts one admitted request (and, with an amount, holds it until settled or expired). With `persist`
   * false (a token with no limit that counts requests) the count stays in memory until `flush()`: nothing
   * is refused on it, so a crash can only lose a few seconds of a statistic, and the reply does not wait
   * for a storage commit.
   */
  admit(
    now: number,
    hold?: { id: string; amount: Amount; expiresAt: number; project: string | null },
    persist = true,
  ): void {
    this.ledger.requests += 1;
    this.lastUsedAt = now;
    if (!persist && !hold) {
      this.dirty = true;
      return;
    }
    if (hold) {
      this.storage.sql.exec(
        "insert into reservations (id, tokens, cost, project, created_at, expires_at, state) values (?, ?, ?, ?, ?, ?, 'open')",
        hold.id,
        hold.amount.tokens,
        hold.amount.costNanos,
        hold.project,
        now,
        hold.expiresAt,
      );
      this.ledger.tokensReserved += hold.amount.tokens;
      this.ledger.costReservedNanos += hold.amount.costNanos;
    }
    this.saveCounters();
  }

  /** Counts usage that happened elsewhere as this holder's own (a child token's, when its escrow closes). */
  charge(amount: Amount & { requests: number }): void {
    this.ledger.requests += Math.max(0, amount.requests);
    this.ledger.tokensUsed += Math.max(0, amount.tokens);
    this.ledger.costUsedNanos += Math.max(0, amount.costNanos);
    this.saveCounters();
  }

  /** Undoes `admit` for a request refused further on (the project's limits): it was never forwarded. */
  unadmit(holdId: string | undefined): void {
    this.ledger.requests = Math.max(0, this.ledger.requests - 1);
    if (holdId) this.closeHold(holdId, null);
    this.saveCounters();
  }

  /** A reservation as stored (open, expired or settled), or undefined once forgotten. */
  row(id: string): ReservationRow | undefined {
    return this.storage.sql
      .exec<ReservationRow>(
        "select id, tokens, cost, project, created_at, expires_at, state from reservations where id = ?",
        id,
      )
      .toArray()[0];
  }

  /** The project sharing an open hold, if any (a settled or unknown hold has nothing left to settle). */
  openHoldProject(id: string): string | null {
    const row = this.row(id);
    return row?.state === "open" || row?.state === "expired" ? row.project : null;
  }

  /** Drops an open hold; with `state` null the row is deleted (rollback), else marked. */
  private closeHold(id: string, state: "expired" | "settled" | null): ReservationRow | undefined {
    const row = this.row(id);
    if (!row) return undefined;
    if (row.state === "open") {
      this.ledger.tokensReserved = Math.max(0, this.ledger.tokensReserved - row.tokens);
      this.ledger.costReservedNanos = Math.max(0, this.ledger.costReservedNanos - row.cost);
    }
    if (state === null) this.storage.sql.exec("delete from reservations where id = ?", id);
    else this.storage.sql.exec("update reservations set state = ? where id = ?", state, id);
    return row;
  }

  /**
   * Replaces a reservation with the request's usage. Idempotent per id.
   * - `reported` (the upstream's own numbers, or a price fixed by the request): exactly that. A null cost
   *   with tokens used (price unknown at settle time) counts the reserved cost, the upper bound.
   * - not reported (a stream cut or aborted before its usage, an answer without usage): at least the hold —
   *   the worst case admitted — and more if what the gateway saw (`tokens`, `costUsd`) proves more.
   * A hold that already expired was charged in full then; its settle now only corrects that charge. A row
   * cleaned up after KEEP_CLOSED_MS is unknown: its usage is charged as given.
   */
  settle(id: string, actual: Charge): Settled {
    const row = this.row(id);
    if (row?.state === "settled") return null;
    const hold = { tokens: row?.tokens ?? 0, cost: row?.cost ?? 0 };
    let tokens = Math.max(0, actual.tokens);
    let cost =
      actual.costUsd !== null ? Math.max(0, toNanos(actual.costUsd)) : actual.tokens > 0 ? hold.cost : 0;
    if (!actual.reported) {
      tokens = Math.max(tokens, hold.tokens);
      cost = Math.max(cost, hold.cost);
    }
    // An expired hold was already charged at expiry: only the difference is added (or given back).
    const charged = row?.state === "expired" ? hold : { tokens: 0, cost: 0 };
    if (row) this.closeHold(id, "settled");
    this.ledger.tokensUsed = Math.max(0, this.ledger.tokensUsed + tokens - charged.tokens);
    this.ledger.costUsedNanos = Math.max(0, this.ledger.costUsedNanos + cost - charged.cost);
    this.saveCounters();
    return { project: row?.project ?? null };
  }

  /**
   * Closes holds past their expiry (a request whose settle never came: the worker died mid-request, the
   * settle call failed) by charging them in full: the request was admitted and may have used its worst
   * case, and nothing proves less. A settle arriving later corrects the charge. Forgets old closed rows.
   * Returns when it next needs to run, or null when nothing is open.
   */
  expire(now: number, onExpired?: (row: ReservationRow) => void): number | null {
    const due = this.storage.sql
      .exec<{ id: string }>("select id from reservations where state = 'open' and expires_at <= ?", now)
      .toArray();
    for (const { id } of due) {
      const row = this.closeHold(id, "expired");
      if (!row) continue;
      this.ledger.tokensUsed += row.tokens;
      this.ledger.costUsedNanos += row.cost;
      onExpired?.(row);
    }
    this.storage.sql.exec(
      "delete from reservations where state != 'open' and created_at <= ?",
      now - KEEP_CLOSED_MS,
    );
    if (due.length > 0) this.saveCounters();
    const next = this.storage.sql
      .exec<{ at: number | null }>(
        `select min(at) as at from (
          select min(expires_at) as at from reservations where state = 'open'
          union all select min(created_at) + ? from reservations where state != 'open')`,
        KEEP_CLOSED_MS,
      )
      .one();
    return next.at;
  }

  openReservations(): number {
    return this.storage.sql
      .exec<{ n: number }>("select count(*) as n from reservations where state = 'open'")
      .one().n;
  }
}
