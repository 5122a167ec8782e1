/**
 * A lean byte-pair-encoding token counter over js-tiktoken's rank files. js-tiktoken's own `Tiktoken`
 * builds two maps with a Uint8Array per token: loading o200k_base costs ~1.5 s of CPU and >150 MB of
 * heap — over a Worker isolate's 128 MB, in the isolate that also serves proxy traffic. Here the rank
 * table is one Map keyed by the token's bytes as a binary string (straight from `atob`), and we only count.
 * Same ranks, same split pattern, same merges: the tests check it token for token against js-tiktoken.
 */

export type RankFile = { pat_str: string; bpe_ranks: string };

const utf8 = new TextEncoder();

/** UTF-8 bytes of a string as a binary string (one char per byte), the key space of the rank map. */
function binary(text: string): string {
  const bytes = utf8.encode(text);
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

/** Lets other requests of the isolate run: long counting work never holds the event loop for more than a few ms. */
const breathe = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Rank entries parsed between two breaths while loading (~5 ms of work). */
const LOAD_SLICE = 5_000;
/** Pieces counted between two breaths (~2–5 ms of work). */
const COUNT_SLICE = 2_000;

export class TokenCounter {
  private constructor(
    private readonly ranks: Map<string, number>,
    private readonly pattern: RegExp,
  ) {}

  /**
   * Builds the rank map in slices, breathing between them: a worker isolate serves other requests
   * (streams among them) while it loads, so one long synchronous load would stall them all.
   */
  static async load(file: RankFile): Promise<TokenCounter> {
    const ranks = new Map<string, number>();
    let parsed = 0;
    // Lines of `<label> <first rank> <base64 token> <base64 token> …`, ranks consecutive within a line.
    for (const line of file.bpe_ranks.split("\n")) {
      if (!line) continue;
      let pos = line.indexOf(" ");
      let end = line.indexOf(" ", pos + 1);
      let rank = Number.parseInt(line.slice(pos + 1, end === -1 ? undefined : end), 10);
      while (end !== -1) {
        pos = end;
        end = line.indexOf(" ", pos + 1);
        ranks.set(atob(line.slice(pos + 1, end === -1 ? undefined : end)), rank++);
        if (++parsed % LOAD_SLICE === 0) await breathe();
      }
    }
    return new TokenCounter(ranks, new RegExp(file.pat_str, "gu"));
  }

  /**
   * Tokens of many texts, breathing every COUNT_SLICE pieces. Past `budgetChars` characters the rest is
   * extrapolated at the rate measured so far, so a huge body costs bounded CPU.
   */
  async countAll(texts: readonly string[], budgetChars = 1_000_000): Promise<number> {
    let tokens = 0;
    let chars = 0;
    let rest = 0;
    let pieces = 0;
    for (const text of texts) {
      if (chars >= budgetChars) {
        rest += text.length;
        continue;
      }
      const counted = text.length <= budgetChars - chars ? text : text.slice(0, budgetChars - chars);
      rest += text.length - counted.length;
      chars += counted.length;
      for (const match of counted.matchAll(this.pattern)) {
        const piece = binary(match[0]);
        tokens += this.ranks.has(piece) ? 1 : this.merge(piece);
        if (++pieces % COUNT_SLICE === 0) await breathe();
      }
    }
    if (rest > 0) tokens += Math.round(rest * (chars > 0 && tokens > 0 ? tokens / chars : 0.25));
    return tokens;
  }

  /**
   * Number of tokens of a text, in one synchronous pass. Special-token markup (`<|endoftext|>`) counts as
   * ordinary text. The estimate uses `countAll` (it breathes); this is the plain reference the tests hold
   * `countAll` and js-tiktoken against.
   */
  count(text: string): number {
    let n = 0;
    for (const match of text.matchAll(this.pattern)) {
      const piece = binary(match[0]);
      n += this.ranks.has(piece) ? 1 : this.merge(piece);
    }
    return n;
  }

  /** Byte-pair merges of one piece: repeatedly join the adjacent pair of lowest rank; returns the part count. */
  private merge(piece: string): number {
    // bounds[i] is where part i starts; the last entry is the piece's end.
    const bounds: number[] = [];
    for (let i = 0; i <= piece.length; i++) bounds.push(i);
    while (bounds.length > 2) {
      let best = -1;
      let bestRank = Number.POSITIVE_INFINITY;
      for (let i = 0; i < bounds.length - 2; i++) {
        const rank = this.ranks.get(piece.slice(bounds[i]!, bounds[i + 2]!));
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best === -1) break;
      bounds.splice(best + 1, 1);
    }
    return bounds.length - 1;
  }
}
