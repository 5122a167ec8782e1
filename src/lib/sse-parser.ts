/** One server-sent event with the exact text it arrived as (blank line included), so it can be passed on. */
export type SseEvent = { raw: string; event: string | null; data: string | null };

/**
 * An incremental, tolerant SSE parser: events may be split across chunks anywhere (even inside a line or a
 * `\r\n`), lines end in `\n` or `\r\n`, comments and unknown fields are ignored, and nothing requires a
 * final `[DONE]`. Only the unfinished tail of the current event is kept between pushes.
 */
export class SseParser {
  private buf = "";

  push(text: string): SseEvent[] {
    this.buf = this.buf ? this.buf + text : text;
    const events: SseEvent[] = [];
    let start = 0;
    let pos = 0;
    let event: string | null = null;
    let data: string | null = null;
    for (;;) {
      const nl = this.buf.indexOf("\n", pos);
      if (nl < 0) break;
      const end = nl > pos && this.buf.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      const line = this.buf.slice(pos, end);
      pos = nl + 1;
      if (line === "") {
        events.push({ raw: this.buf.slice(start, pos), event, data });
        start = pos;
        event = null;
        data = null;
        continue;
      }
      [event, data] = field(line, event, data);
    }
    this.buf = start === 0 ? this.buf : this.buf.slice(start);
    return events;
  }

  /** The pending text: an event the stream ended without closing, or an incomplete line. */
  get pending(): string {
    return this.buf;
  }

  /** Ends the stream: an unterminated last event still counts (some backends omit the final blank line). */
  finish(): SseEvent | null {
    const rest = this.buf;
    this.buf = "";
    if (!rest) return null;
    let event: string | null = null;
    let data: string | null = null;
    for (const raw of rest.split("\n")) {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (line) [event, data] = field(line, event, data);
    }
    return { raw: rest, event, data };
  }
}

function field(line: string, event: string | null, data: string | null): [string | null, string | null] {
  if (line.charCodeAt(0) === 58) return [event, data]; // ":" comment
  const colon = line.indexOf(":");
  const name = colon < 0 ? line : line.slice(0, colon);
  let value = colon < 0 ? "" : line.slice(colon + 1);
  if (value.charCodeAt(0) === 32) value = value.slice(1);
  if (name === "data") return [event, data === null ? value : `${data}\n${value}`];
  if (name === "event") return [value, data];
  return [event, data];
}
