import { DurableObject } from "cloudflare:workers";
import type { ObjectScope } from "./capabilities";
import { KIND_INFO, type Kind } from "./kinds";

/** Who asks: a token, and how far its project lets it see (its own objects, or all of the project's). */
export type Owner = { tokenId: string; scope: ObjectScope };

/** An object the upstream created for a token, as the registry keeps it. */
export type NewRecord = {
  id: string;
  kind: Kind;
  /** The upstream it lives on (ids are only unique within one upstream account): follow-ups go there. */
  upstream: string;
  /** The token that created it. */
  tokenId: string;
  /** The object it came out of (a batch's output file, a job's model): it gets that object's token. */
  from?: string;
  createdAt: number;
  /** When the upstream drops it (ms); null: it lives until deleted. */
  expiresAt: number | null;
  /** A lifetime that starts again at each use (vector stores' `expires_after` from `last_active_at`). */
  slideMs: number | null;
  /** What lists filter on: a file's purpose, a stored completion's model. */
  tag: string | null;
};

export type Found = { id: string; kind: Kind; upstream: string };

export type PageQuery = {
  kind: Kind;
  limit: number;
  order: "asc" | "desc";
  after?: string;
  before?: string;
  tag?: string;
};

export type Page = { items: { id: string; upstream: string }[]; hasMore: boolean };

type Row = {
  id: string;
  kind: string;
  upstream: string;
  token_id: string;
  created_at: number;
  expires_at: number | null;
  slide_ms: number | null;
};

/** The longest a lookup waits for a record still on its way (see `find`). */
const MAX_WAIT_MS = 5_000;
/** Expired records are swept at most this often (lookups ignore them from the moment they expire). */
const SWEEP_EVERY_MS = 10 * 60_000;

/**
 * One per project, named by the project's id: which upstream objects the project's tokens created, and
 * which token created each. Only the gateway writes here, from the upstream's own answers; a token's
 * request only reads. Upstream ids are global in an upstream account, and projects may share one: because
 * each project has its own registry, another project's objects are simply not in it.
 *
 * Why a Durable Object per project rather than a D1 table: every stored Responses call writes a record, so
 * records are written at the rate of inference traffic — spread over one object per project, not funnelled
 * into the one D1 database that management, usage rollups and every other project share; a flood of
 * creates by one project slows only that project's object. Reads and writes of one project are
 * single-threaded and strongly consistent, so an object recorded before its id reached the client is found
 * by the client's next request, wherever it lands; widening to the whole project is a WHERE clause, not a
 * fan-out over tokens. Expired records are swept by the object's own alarm (a cron would have to wake the
 * object of every project, creating it far from the project's clients).
 */
export class ObjectRegistry extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Lookups waiting for a record still on its way, by object id. */
  private readonly waiting = new Map<string, Set<() => void>>();
  private alarmAt: number | null | undefined;
  /** The object's clock; tests replace it to walk records past their lifetimes. */
  clock: () => number = Date.now;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
  }

  /** Whether the table exists in this instance's storage (a purge drops it). */
  private ready = false;

  // `seq` orders objects made in the same second in the order they were recorded (upstream `created_at`
  // is in seconds): lists and their cursors go by (created_at, seq).
  private ensureSchema(): void {
    if (this.ready) return;
    this.sql.exec(`create table if not exists objects (
      seq integer primary key autoincrement, id text not null unique, kind text not null,
      upstream text not null, token_id text not null, created_at integer not null, expires_at integer,
      slide_ms integer, tag text)`);
    this.sql.exec("create index if not exists objects_by_kind on objects (kind, created_at, seq)");
    this.sql.exec("create index if not exists objects_by_token on objects (token_id, kind, created_at, seq)");
    this.sql.exec(
      "create index if not exists objects_by_expiry on objects (expires_at) where expires_at is not null",
    );
    this.ready = true;
  }

  /**
   * Records objects the upstream created. The first record of an id wins (a second answer naming the same
   * object never moves it to another token); a later one may only tell of a new expiry.
   */
  async record(records: NewRecord[]): Promise<void> {
    this.ensureSchema();
    let soonest: number | null = null;
    for (const r of records) {
      let tokenId = r.tokenId;
      if (r.from) {
        const parent = this.sql
          .exec<{ token_id: string }>("select token_id from objects where id = ?", r.from)
          .toArray()[0];
        if (parent) tokenId = parent.token_id;
      }
      this.sql.exec(
        `insert into objects (id, kind, upstream, token_id, created_at, expires_at, slide_ms, tag)
         values (?, ?, ?, ?, ?, ?, ?, ?)
         on conflict (id) do update set expires_at = excluded.expires_at, slide_ms = excluded.slide_ms
         where objects.kind = excluded.kind and objects.upstream = excluded.upstream`,
        r.id,
        r.kind,
        r.upstream,
        tokenId,
        r.createdAt,
        r.expiresAt,
        r.slideMs,
        r.tag,
      );
      if (r.expiresAt !== null && (soonest === null || r.expiresAt < soonest)) soonest = r.expiresAt;
      const waiters = this.waiting.get(r.id);
      if (waiters) for (const wake of waiters) wake();
    }
    if (soonest !== null) await this.armSweep(soonest);
  }

  /**
   * Which of `refs` the owner may reach (by id and kind, unexpired). Objects recorded off the client's path
   * (a stored response, its items, a stored chat completion: written from the answer's tap while the answer
   * reaches the client) may be asked for by a client fast enough to overtake their write: for those a miss
   * waits up to `waitMs` for the record to arrive before it counts as a miss. Every other kind is recorded
   * before its id reaches the client, so a miss there is final at once.
   */
  async find(owner: Owner, refs: { kind: Kind; id: string }[], waitMs: number): Promise<Found[]> {
    this.ensureSchema();
    let found = this.lookup(owner, refs);
    const pending = refs.filter((r) => KIND_INFO[r.kind].offPath && !found.has(r.id));
    if (pending.length > 0 && waitMs > 0) {
      await this.waitFor(
        pending.map((r) => r.id),
        Math.min(waitMs, MAX_WAIT_MS),
      );
      found = this.lookup(owner, refs);
    }
    return [...found.values()];
  }

  private lookup(owner: Owner, refs: { kind: Kind; id: string }[]): Map<string, Found> {
    const out = new Map<string, Found>();
    if (refs.length === 0) return out;
    const now = this.clock();
    const wanted = new Map(refs.map((r) => [r.id, r.kind]));
    const rows = this.sql
      .exec<Row>(
        "select id, kind, upstream, token_id, expires_at, slide_ms from objects where id in (select value from json_each(?))",
        JSON.stringify([...wanted.keys()]),
      )
      .toArray();
    for (const row of rows) {
      if (wanted.get(row.id) !== row.kind) continue;
      if (owner.scope !== "project" && row.token_id !== owner.tokenId) continue;
      if (row.expires_at !== null && row.expires_at <= now) continue;
      // A use through the gateway is a use upstream: a sliding lifetime starts again.
      if (row.slide_ms !== null && row.expires_at !== null && row.expires_at < now + row.slide_ms) {
        this.sql.exec("update objects set expires_at = ? where id = ?", now + row.slide_ms, row.id);
      }
      out.set(row.id, { id: row.id, kind: row.kind as Kind, upstream: row.upstream });
    }
    return out;
  }

  private waitFor(ids: string[], ms: number): Promise<void> {
    return new Promise((resolve) => {
      let left = ids.length;
      const wakes: [string, () => void][] = [];
      const done = () => {
        clearTimeout(timer);
        for (const [id, wake] of wakes) {
          const set = this.waiting.get(id);
          set?.delete(wake);
          if (set?.size === 0) this.waiting.delete(id);
        }
        resolve();
      };
      const timer = setTimeout(done, ms);
      for (const id of ids) {
        let fired = false;
        const wake = () => {
          if (fired) return;
          fired = true;
          if (--left === 0) done();
        };
        wakes.push([id, wake]);
        const set = this.waiting.get(id) ?? new Set();
        this.waiting.set(id, set);
        set.add(wake);
      }
    });
  }

  /**
   * One page of the owner's objects of a kind, ordered by creation time (then id), after or before the
   * object named by the cursor. A cursor the owner cannot see gives an empty page: it tells nothing.
   */
  page(owner: Owner, q: PageQuery): Page {
    this.ensureSchema();
    const now = this.clock();
    const cursorId = q.after ?? q.before;
    let cursor: { created_at: number; seq: number } | undefined;
    if (cursorId !== undefined) {
      const row = this.lookup(owner, [{ kind: q.kind, id: cursorId }]).get(cursorId);
      if (!row) return { items: [], hasMore: false };
      cursor = this.sql
        .exec<{ created_at: number; seq: number }>(
          "select created_at, seq from objects where id = ?",
          cursorId,
        )
        .one();
    }
    // `before` walks the other way from the cursor, nearest first, and is turned round at the end.
    const forward = q.before === undefined;
    const ascending = (q.order === "asc") === forward;
    const cmp = ascending ? ">" : "<";
    const dir = ascending ? "asc" : "desc";
    const rows = this.sql
      .exec<{ id: string; upstream: string }>(
        `select id, upstream from objects
         where kind = ?1 and (?2 = 'project' or token_id = ?3) and (expires_at is null or expires_at > ?4)
           and (?5 is null or tag = ?5)
           and (?6 is null or (created_at, seq) ${cmp} (?6, ?7))
         order by created_at ${dir}, seq ${dir} limit ?8`,
        q.kind,
        owner.scope,
        owner.tokenId,
        now,
        q.tag ?? null,
        cursor?.created_at ?? null,
        cursor?.seq ?? null,
        q.limit + 1,
      )
      .toArray();
    const hasMore = rows.length > q.limit;
    const items = rows.slice(0, q.limit);
    if (!forward) items.reverse();
    return { items, hasMore };
  }

  /** The upstream said these objects are gone (deleted, expired): forget them. */
  forget(ids: string[]): void {
    if (ids.length === 0) return;
    this.ensureSchema();
    this.sql.exec("delete from objects where id in (select value from json_each(?))", JSON.stringify(ids));
  }

  /** The project was deleted: nothing of it stays. */
  async purge(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.alarmAt = null;
    this.ready = false;
  }

  /** How many records the registry holds (for tests and the operator's curiosity). */
  count(): number {
    this.ensureSchema();
    return this.sql.exec<{ n: number }>("select count(*) as n from objects").one().n;
  }

  private async armSweep(expiresAt: number): Promise<void> {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    const at = Math.max(expiresAt, this.clock() + 1_000);
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  /** Deletes the records whose objects' lifetimes are over, then waits for the next one to end. */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    this.ensureSchema();
    const now = this.clock();
    this.sql.exec("delete from objects where expires_at is not null and expires_at <= ?", now);
    const next = this.sql
      .exec<{ at: number | null }>("select min(expires_at) as at from objects where expires_at is not null")
      .one().at;
    if (next !== null) {
      this.alarmAt = Math.max(next, now + SWEEP_EVERY_MS);
      await this.ctx.storage.setAlarm(this.alarmAt);
    }
  }
}
