// SQL pieces shared by the rollups computed from the event ledger's lines.

/** JSON fields of a ledger line, as SQL expressions. */
export const f = (path: string) => `json_extract(line, '$.${path}')`;
/** The hour (epoch ms) of a line's timestamp. */
export const HOUR = `(cast(unixepoch(${f("timestamp")}) as integer) / 3600) * 3600000`;
/** The ledger rows of this attempt's object keys (bound as ?1, a JSON list). */
export const IN_KEYS = "object_key in (select value from json_each(?1))";
/** Every event of the attempt was new: its keys hold as many ledger rows as the batch had events (?2). */
export const ALL_NEW = `((select count(*) from event_ledger where ${IN_KEYS}) = ?2)`;
