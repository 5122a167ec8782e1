/**
 * A lean byte-pair-encoding token counter over js-tiktoken's rank files. js-tiktoken's own `Tiktoken`
 * builds two maps with a Uint8Array per token: loading o200k_base costs ~1.5 s of CPU and >150 MB of
 * heap — over a Worker isolate's 128 MB, in the isolate that also serves proxy traffic. Here the rank
 * table is one Map keyed by the token's bytes as a binary string (straight from `atob`), and we only count.
 * Same ranks, same split pattern, same merges: the tests check it token for token against js-tiktoken.
 *
 * Hostile text stays cheap: the merge of one piece is O(n log n) (a heap of candidate pairs, not the
 * textbook rescan of every pair after each merge, which is quadratic: one 100 kB run of spaces took minutes),
 * and `countAll` counts at most a budget of characters, sampled evenly across long texts, and
 * extrapolates the rest (bench/estimate.ts measures both).
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
const LOAD_SLICE = 2_000;
/** Bytes of pieces counted between two breaths (~1–3 ms of work, whatever the text). */
const COUNT_SLICE_BYTES = 1_024;
/**
 * Characters `countAll` counts exactly by default; past it, evenly spaced windows of this many characters
 * in total are counted and the rest extrapolated. Sized so that the costliest text measured (bench/estimate.ts)
 * stays well under 50 ms of CPU per estimate on a 2-core VM.
 */
export const DEFAULT_BUDGET_CHARS = 16_384;
/** Length of one sampled window: long enough that a cut word at its ends changes little. */
const WINDOW_CHARS = 512;
/** Pieces up to this many bytes are merged by the plain rescan, which is faster than a heap when short. */
const SHORT_PIECE = 24;

export class TokenCounter {
  private readonly ranks: Map<string, number>;
  private readonly pattern: RegExp;

  private constructor(ranks: Map<string, number>, pattern: RegExp) {
    this.ranks = ranks;
    this.pattern = pattern;
  }

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
   * Tokens of many texts, breathing every few kB of pieces. Up to `budgetChars` characters in total are
   * counted exactly; past that, evenly spaced windows over all the texts (as if laid end to end, each
   * window cut at text boundaries) that add up to the budget are counted, and the total is extrapolated
   * from them: a huge or hostile body, or a hundred thousand tiny messages, cost bounded CPU.
   */
  async countAll(texts: readonly string[], budgetChars = DEFAULT_BUDGET_CHARS): Promise<number> {
    let total = 0;
    for (const text of texts) total += text.length;
    let bytes = 0;
    let tokens = 0;
    const countText = async (text: string) => {
      for (const match of text.matchAll(this.pattern)) {
        const piece = binary(match[0]);
        tokens += this.ranks.has(piece) ? 1 : this.merge(piece);
        bytes += piece.length;
        if (bytes >= COUNT_SLICE_BYTES) {
          bytes = 0;
          await breathe();
        }
      }
    };
    if (total <= budgetChars) {
      for (const text of texts) if (text) await countText(text);
      return tokens;
    }
    let sampled = 0;
    for (const part of windows(texts, total, budgetChars)) {
      sampled += part.length;
      await countText(part);
    }
    return sampled > 0 ? Math.round((tokens * total) / sampled) : 0;
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

  /** Byte-pair merges of one piece: repeatedly join the adjacent pair of lowest rank (leftmost on a tie). */
  private merge(piece: string): number {
    return piece.length <= SHORT_PIECE ? this.mergeShort(piece) : this.mergeLong(piece);
  }

  /** The textbook loop: rescan every pair after each merge. Quadratic, so only for short pieces. */
  private mergeShort(piece: string): number {
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

  /**
   * The same merges in O(n log n): parts form a linked list, and every adjacent pair that is a token waits
   * in a min-heap keyed by (rank, start). A popped entry is stale when its part has gone or its pair has
   * changed (a part only grows, so its pair's string never repeats and the rank identifies it). Lowest
   * rank first, leftmost on a tie: the order of the textbook loop, so the result is identical.
   */
  private mergeLong(piece: string): number {
    const n = piece.length;
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const pairRank = new Float64Array(n);
    const heap = new MinHeap();
    for (let i = 0; i < n; i++) {
      next[i] = i + 1;
      prev[i] = i - 1;
    }
    // Start positions fit in 24 bits (a piece is at most a few MB); ranks in 29: the key stays an exact double.
    const SHIFT = 16_777_216;
    const rankAt = (i: number): number => {
      const j = next[i]!;
      if (j >= n) return -1;
      const end = next[j]!;
      const rank = this.ranks.get(piece.slice(i, end));
      return rank === undefined ? -1 : rank;
    };
    for (let i = 0; i < n - 1; i++) {
      const rank = rankAt(i);
      pairRank[i] = rank;
      if (rank >= 0) heap.push(rank * SHIFT + i);
    }
    let parts = n;
    const alive = new Uint8Array(n).fill(1);
    while (heap.size > 0) {
      const key = heap.pop();
      const i = key % SHIFT;
      const rank = (key - i) / SHIFT;
      if (!alive[i] || pairRank[i] !== rank) continue;
      // Part i absorbs its right neighbour.
      const j = next[i]!;
      alive[j] = 0;
      next[i] = next[j]!;
      if (next[i]! < n) prev[next[i]!] = i;
      parts--;
      const own = rankAt(i);
      pairRank[i] = own;
      if (own >= 0) heap.push(own * SHIFT + i);
      const p = prev[i]!;
      if (p >= 0) {
        const left = rankAt(p);
        pairRank[p] = left;
        if (left >= 0) heap.push(left * SHIFT + p);
      }
    }
    return parts;
  }
}

/** A binary min-heap of numbers. */
class MinHeap {
  private readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  push(value: number): void {
    const a = this.items;
    let i = a.length;
    a.push(value);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]! <= value) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = value;
  }

  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      const len = a.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= len) break;
        const r = l + 1;
        const c = r < len && a[r]! < a[l]! ? r : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

/**
 * Evenly spaced windows over texts laid end to end, about `budget` characters in all, each WINDOW_CHARS
 * long and cut where a text ends (tokens never span two texts). No part starts or ends inside a surrogate pair.
 */
function* windows(texts: readonly string[], total: number, budget: number): Generator<string> {
  const count = Math.max(1, Math.floor(budget / WINDOW_CHARS));
  const stride = total / count;
  let t = 0;
  let base = 0; // global offset of texts[t]
  for (let k = 0; k < count; k++) {
    let at = Math.floor(k * stride);
    let left = WINDOW_CHARS;
    while (left > 0 && t < texts.length) {
      const text = texts[t]!;
      if (at >= base + text.length) {
        base += text.length;
        t++;
        continue;
      }
      let start = at - base;
      let end = Math.min(text.length, start + left);
      if (isLowSurrogate(text.charCodeAt(start))) start++;
      if (end < text.length && isLowSurrogate(text.charCodeAt(end))) end++;
      if (end > start) yield text.slice(start, end);
      left -= end - (at - base);
      at = base + end;
    }
  }
}

const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff;
