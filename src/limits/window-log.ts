/**
 * The admission times the rate windows need (see windows.ts), in the object's SQLite storage so an
 * evicted object keeps its windows. Kept in memory as well, ascending, for the synchronous check.
 */
export class WindowLog {
  private ids: number[] = [];
  times: number[] = [];

  constructor(private readonly sql: SqlStorage) {
    sql.exec(
      "create table if not exists admissions (id integer primary key autoincrement, at integer not null)",
    );
    for (const row of sql.exec<{ id: number; at: number }>("select id, at from admissions order by id")) {
      this.ids.push(row.id);
      this.times.push(row.at);
    }
  }

  /** Logs one admission; returns its id (to undo it). */
  add(at: number, capacity: number): number {
    const { id } = this.sql
      .exec<{ id: number }>("insert into admissions (at) values (?) returning id", at)
      .one();
    this.ids.push(id);
    this.times.push(at);
    // Trim in steps so the delete is amortised over many admissions.
    if (this.times.length > capacity + Math.max(16, capacity >> 3)) this.trim(capacity);
    return id;
  }

  remove(id: number): void {
    const i = this.ids.lastIndexOf(id);
    if (i < 0) return;
    this.ids.splice(i, 1);
    this.times.splice(i, 1);
    this.sql.exec("delete from admissions where id = ?", id);
  }

  /** Keeps only the most recent `capacity` entries (all that the windows can ever look at). */
  trim(capacity: number): void {
    const drop = this.times.length - capacity;
    if (drop <= 0) return;
    const lastDropped = this.ids[drop - 1] as number;
    this.ids.splice(0, drop);
    this.times.splice(0, drop);
    this.sql.exec("delete from admissions where id <= ?", lastDropped);
  }
}
