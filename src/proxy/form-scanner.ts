import { ApiError } from "../lib/errors";

// The multipart/form-data parser: it reads the form fields of a body (audio transcriptions and translations,
// image edits and variations) chunk by chunk as it streams: the text fields (`model`, `n`, `size`, …) are
// kept, the file parts are only skipped over and counted — never decoded, copied or held as strings. What
// is done with the body's bytes (held, forwarded, stopped) is multipart.ts's `readForm`.

/** A text field longer than this is not a form value the gateway needs (it is kept as "too long"). */
const MAX_FIELD_BYTES = 1_024;
/** Headers of one part longer than this: not a form a client sends. */
const MAX_PART_HEADER_BYTES = 8_192;

export type FormFields = {
  /** Text fields by name, each value as sent (UTF-8). A name sent twice keeps the list of its values. */
  fields: Map<string, string[]>;
  /** Names of text fields longer than MAX_FIELD_BYTES (their value is not kept). */
  oversized: Set<string>;
  /** File parts seen, by field name. */
  files: Map<string, number>;
  /** The closing boundary was read: every field is known. */
  complete: boolean;
};

export const badForm = (detail: string) =>
  new ApiError(400, "invalid_form_data", `The multipart/form-data body is malformed: ${detail}.`);

/** The boundary parameter of a multipart Content-Type (quoted or not), or a 400 when there is none. */
export function boundaryOf(contentType: string | null): string {
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType ?? "");
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw badForm("the Content-Type has no boundary");
  return boundary;
}

const CR = 13;
const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * The name and whether it is a file, from one part's headers. A part whose name could be read two ways (two
 * Content-Disposition headers, `name` and an RFC 5987 `name*` that differ) is malformed: the gateway must
 * read the form exactly as the upstream will.
 */
function disposition(headers: string): { name: string | null; file: boolean } {
  let found: { name: string | null; file: boolean } | null = null;
  for (const line of headers.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon < 0 || line.slice(0, colon).trim().toLowerCase() !== "content-disposition") continue;
    if (found) throw badForm("a part has two Content-Disposition headers");
    const value = line.slice(colon + 1);
    const plain = /;\s*name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;]+))/i.exec(value);
    const extended = /;\s*name\*\s*=\s*([^;]*)/i.exec(value);
    let name = plain ? (plain[1] ?? plain[2] ?? "").replace(/\\(.)/g, "$1") : null;
    if (extended) {
      let ext: string;
      try {
        ext = decodeURIComponent(extended[1]!.trim().replace(/^[^']*'[^']*'/, ""));
      } catch {
        throw badForm("a part's name* is not valid percent-encoding");
      }
      if (name !== null && ext !== name) throw badForm("a part has two different names");
      name = ext;
    }
    found = { name, file: /;\s*filename\*?\s*=/i.test(value) };
  }
  return found ?? { name: null, file: false };
}

/**
 * An incremental multipart/form-data scanner. Delimiters are found with the runtime's native byte search
 * (`indexOf` of CR) and a match carried across chunk edges, so a 25 MB file part costs a few thousand native
 * searches, not a JavaScript loop over its bytes.
 */
export class FormScanner {
  readonly result: FormFields = {
    fields: new Map(),
    oversized: new Set(),
    files: new Map(),
    complete: false,
  };
  private readonly delimiter: Uint8Array;
  private state: "body" | "after" | "headers" | "end" = "body";
  /** Bytes of the delimiter matched at the end of the last chunk. The body starts as if after a CRLF. */
  private matched = 2;
  private after = "";
  private header: number[] = [];
  private part: { name: string | null; file: boolean } | null = null;
  private value: Uint8Array[] = [];
  private valueBytes = 0;

  constructor(boundary: string) {
    this.delimiter = encoder.encode(`\r\n--${boundary}`);
  }

  /** Scans one chunk; returns true once the closing delimiter was read. */
  push(chunk: Uint8Array): boolean {
    let i = 0;
    while (i < chunk.length && this.state !== "end") {
      if (this.state === "body") i = this.body(chunk, i);
      else if (this.state === "after") {
        this.after += String.fromCharCode(chunk[i++]!);
        if (this.after.length === 2) {
          if (this.after === "--") {
            this.state = "end";
            this.result.complete = true;
          } else if (this.after === "\r\n") {
            this.state = "headers";
            this.header = [];
          } else throw badForm("a boundary is followed by neither CRLF nor --");
          this.after = "";
        }
      } else {
        this.header.push(chunk[i++]!);
        const h = this.header;
        const n = h.length;
        if (n > MAX_PART_HEADER_BYTES) throw badForm("a part's headers are too long");
        if (n >= 4 && h[n - 4] === CR && h[n - 3] === 10 && h[n - 2] === CR && h[n - 1] === 10) {
          this.part = disposition(String.fromCharCode(...h.slice(0, n - 4)));
          this.value = [];
          this.valueBytes = 0;
          this.state = "body";
        }
      }
    }
    return this.state === "end";
  }

  /** Scans body bytes from `from` for the delimiter; returns where scanning stopped. */
  private body(chunk: Uint8Array, from: number): number {
    const d = this.delimiter;
    let i = from;
    // A delimiter begun at the end of the last chunk: finish or abandon it (its bytes were then body bytes;
    // no suffix of a partial match can begin the delimiter again, since only its first byte is a CR).
    while (this.matched > 0 && i < chunk.length) {
      if (chunk[i] === d[this.matched]) {
        i++;
        if (++this.matched === d.length) {
          this.matched = 0;
          this.endPart();
          return i;
        }
      } else {
        this.keep(d.subarray(0, this.matched));
        this.matched = 0;
      }
    }
    if (this.matched > 0) return i;
    const start = i;
    for (;;) {
      const at = chunk.indexOf(CR, i);
      if (at < 0) {
        this.keep(chunk.subarray(start));
        return chunk.length;
      }
      let k = 0;
      while (k < d.length && at + k < chunk.length && chunk[at + k] === d[k]) k++;
      if (k === d.length) {
        this.keep(chunk.subarray(start, at));
        this.endPart();
        return at + k;
      }
      if (at + k === chunk.length) {
        this.keep(chunk.subarray(start, at));
        this.matched = k;
        return chunk.length;
      }
      i = at + 1;
    }
  }

  /** Body bytes of the current part: kept (up to a bound) for a text field, only counted for a file. */
  private keep(bytes: Uint8Array): void {
    if (!this.part || this.part.file || bytes.length === 0) return;
    this.valueBytes += bytes.length;
    if (this.valueBytes <= MAX_FIELD_BYTES) this.value.push(bytes.slice());
  }

  private endPart(): void {
    const part = this.part;
    this.state = "after";
    this.part = null;
    if (!part || part.name === null) return;
    if (part.file) {
      this.result.files.set(part.name, (this.result.files.get(part.name) ?? 0) + 1);
      return;
    }
    if (this.valueBytes > MAX_FIELD_BYTES) {
      this.result.oversized.add(part.name);
      return;
    }
    const bytes = new Uint8Array(this.valueBytes);
    let at = 0;
    for (const v of this.value) {
      bytes.set(v, at);
      at += v.length;
    }
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw badForm(`the field '${part.name}' is not UTF-8`);
    }
    const list = this.result.fields.get(part.name) ?? [];
    list.push(text);
    this.result.fields.set(part.name, list);
  }
}
