import type { Amount } from "../limits/budget";

/**
 * What a parent token's object holds back for its child tokens: each child's carved allowance (requests,
 * tokens, cost), counted as committed by the parent's budgets until the child is over. Then the child's
 * real use is charged to the parent and the rest returns (see TokenState.releaseEscrows). Rows in the
 * object's SQLite storage, totals in memory for the synchronous admission check.
 */

export type EscrowAmount = Amount & { requests: number };

export type Escrow = EscrowAmount & {
  childId: string;
  /** When to settle it: the child's end (expiry or revocation) plus the reservation lifetime. */
  releaseAt: number;
};

type Row = { child_id: string; requests: number; tokens: number; cost: number; release_at: number };

const ZERO: EscrowAmount = { requests: 0, tokens: 0, costNanos: 0 };

export class EscrowStore {
  totals: EscrowAmount = { ...ZERO };
  count = 0;

  constructor(private readonly sql: SqlStorage) {
    sql.exec(`create table if not exists escrows (
      child_id text primary key, requests integer not null, tokens integer not null, cost integer not null,
      release_at integer not null)`);
    const t = sql
      .exec<{ n: number; r: number | null; t: number | null; c: number | null }>(
        "select count(*) as n, sum(requests) as r, sum(tokens) as t, sum(cost) as c from escrows",
      )
      .one();
    this.count = t.n;
    this.totals = { requests: t.r ?? 0, tokens: t.t ?? 0, costNanos: t.c ?? 0 };
  }

  add(escrows: readonly Escrow[]): void {
    for (const e of escrows) {
      this.sql.exec(
        "insert into escrows (child_id, requests, tokens, cost, release_at) values (?, ?, ?, ?, ?)",
        e.childId,
        e.requests,
        e.tokens,
        e.costNanos,
        e.releaseAt,
      );
      this.totals.requests += e.requests;
      this.totals.tokens += e.tokens;
      this.totals.costNanos += e.costNanos;
      this.count += 1;
    }
  }

  get(childId: string): Escrow | undefined {
    const row = this.sql.exec<Row>("select * from escrows where child_id = ?", childId).toArray()[0];
    return row && toEscrow(row);
  }

  /** Drops a child's escrow (its allowance returns); the caller charges what the child really used. */
  remove(childId: string): Escrow | undefined {
    const e = this.get(childId);
    if (!e) return undefined;
    this.sql.exec("delete from escrows where child_id = ?", childId);
    this.totals.requests -= e.requests;
    this.totals.tokens -= e.tokens;
    this.totals.costNanos -= e.costNanos;
    this.count -= 1;
    return e;
  }

  reschedule(childId: string, releaseAt: number): void {
    this.sql.exec("update escrows set release_at = ? where child_id = ?", releaseAt, childId);
  }

  due(now: number, limit = 50): Escrow[] {
    return this.sql
      .exec<Row>("select * from escrows where release_at <= ? order by release_at limit ?", now, limit)
      .toArray()
      .map(toEscrow);
  }

  nextAt(): number | null {
    return this.sql.exec<{ at: number | null }>("select min(release_at) as at from escrows").one().at;
  }
}

const toEscrow = (r: Row): Escrow => ({
  childId: r.child_id,
  requests: r.requests,
  tokens: r.tokens,
  costNanos: r.cost,
  releaseAt: r.release_at,
});
