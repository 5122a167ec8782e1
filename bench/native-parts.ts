// Where a native CPU sample of a workerd process goes: `perf script -F comm,tid,ip,sym` stacks (leaf
// first), each put in one part of a fixed, documented list (bench/README.md "Native profile"). Pure: the
// recording is bench/native-profile.ts.
//
// How a stack is read, in order (the first rule that applies decides):
// 1. The leaf is in the kernel: network (tcp, sockets, epoll), page faults, or other kernel work.
// 2. A garbage-collector frame anywhere (V8's heap, cppgc, workerd's tracing of its wrappers): GC.
// 3. A V8 compiler frame anywhere (parse, bytecode, Sparkplug, Maglev, Turbofan): compile.
// 4. From the leaf outwards up to the first JavaScript frame (an unnamed JIT/interpreter frame or a V8
//    builtin, inside a JS entry), or the root: the outermost named workerd API (fetch, Headers, Body,
//    Request/Response, streams, queue, Durable Object stubs, SQLite, crypto, timers, …) — the one the
//    JavaScript called. So memcpy under Headers is the headers'; Headers built inside fetchImpl are
//    fetch()'s; a stream read inside Body::arrayBuffer is a body read; JS called back from a stream is
//    JavaScript's. JS reaching an unnamed workerd/kj native and nothing named is "other native called
//    from JS";
//    workerd::jsg (the glue: value conversions, promise continuations) counts with the JS that called it.
// 5. No API and no JS: the runtime around the isolate — entering it (IoContext::run anywhere on the
//    stack: what it does before and after calling JS: locks, request delivery, microtask checkpoints);
//    else the innermost frame naming HTTP and sockets (kj-http, hyper and the Rust server/client, libc
//    read/write) or the kj/tokio event loop and promises; else Rust code whose callers perf could not
//    unwind; else other.
// Symbols are matched on their qualified name with template and argument lists removed, anchored at the
// start, so a lambda whose mangled arguments mention a type (say AbortSignal) is not taken for it.

export type Stack = { comm: string; pid?: number; frames: string[] };

/** The parts, in the order tables list them, with what each holds. */
export const NATIVE_PARTS = [
  ["JS execution", "JIT and interpreter code, V8 builtins and runtime functions (JSON, regexps, promises)"],
  ["fetch() (fetchImpl, response)", "workerd::api::fetchImpl and the handling of its response"],
  ["Headers", "workerd::api::Headers: construction from an init, get/set/append, copies"],
  ["Request/Response objects", "workerd::api::Request/Response constructors, clone, Body construction"],
  ["body reads", "workerd::api::Body::arrayBuffer/text/json/bytes"],
  ["response out (Response::send)", "the returned Response written to the client"],
  ["streams", "ReadableStream/WritableStream/TransformStream natives, pumps"],
  ["queue send", "workerd::api::WorkerQueue: send, sendBatch (serialising the messages)"],
  ["DO stub / RPC / service binding", "workerd::api::Fetcher, JS RPC, Durable Object stubs and ids"],
  ["SQLite (DO, D1 storage)", "sqlite3 and workerd's SqliteDatabase / SqlStorage / ActorSqlite"],
  ["crypto", "workerd::api crypto (digest, HMAC, keys, random) and BoringSSL below it"],
  ["timers, AbortSignal", "setTimeout/clearTimeout, AbortSignal/AbortController natives"],
  ["text encode/decode, URL", "TextEncoder/TextDecoder, URL parsing (ada)"],
  ["other native called from JS", "a workerd/kj native called from JavaScript that none of the above names"],
  [
    "isolate entry (IoContext::run)",
    "entering the isolate with no JS below: locks, request delivery, checkpoints",
  ],
  [
    "HTTP and sockets (runtime)",
    "kj-http / Rust HTTP server and client, socket reads and writes in user space",
  ],
  ["event loop, promises (kj, tokio)", "kj promise nodes and event loop, tokio, with nothing above named"],
  [
    "Rust, caller unknown",
    "Rust code (std, alloc, drop glue) whose stack perf could not unwind (no frame pointers)",
  ],
  ["GC", "V8 and cppgc garbage collection (scavenge, mark-compact, sweeping, tracing wrappers)"],
  ["V8 compile", "parsing and compiling JavaScript (all tiers), on the main or a V8 worker thread"],
  ["kernel: network", "tcp, sockets, loopback, epoll — in the kernel"],
  ["kernel: page faults", "page faults (memory being touched for the first time)"],
  ["kernel: other", "scheduler, futex, timers, other system calls"],
  ["other runtime", "none of the above (malloc and V8 internals outside JS, process threads)"],
] as const;

export type NativePart = (typeof NATIVE_PARTS)[number][0];

const KERNEL_NET =
  /^(tcp_|__tcp|sock_|__sock|sk_|skb_|__skb|inet_|ip_|__ip|ipv6_|net_|__net|netif_|__netif|loopback|__dev_|dev_hard|ep_|do_epoll|__x64_sys_epoll|unix_|__sys_(send|recv|accept|connect)|__x64_sys_(sendto|recvfrom|sendmsg|recvmsg|accept4?|connect))/;
const KERNEL_FAULT =
  /^(asm_exc_page_fault|exc_page_fault|do_user_addr_fault|handle_mm_fault|__handle_mm_fault)$/;
const GC =
  /^(v8::internal::(Heap::(CollectGarbage|PerformGarbageCollection|Scavenge|MarkCompact|MinorMarkSweep|StartIncrementalMarking|FinalizeIncrementalMarking)|Scavenger\w*|ScavengerCollector|MarkCompactCollector|MinorMarkSweepCollector|IncrementalMarking\w*|ConcurrentMarking|MarkingVisitor\w*|ScavengeJob|Sweeper|GCTracer|MemoryReducer|ArrayBufferSweeper|GlobalHandles::(IterateWeak|ProcessWeak|PostGarbageCollection)|anon::ParallelWeakHandlesProcessor|CppHeap::(TraceEpilogue|FinishMarking|StartTracing|AdvanceTracing)|ConcurrentMarkingJob|UnifiedHeapMarkingState)|cppgc::internal::(Sweeper|Marker|MarkerBase|MutatorMarkingState|ConcurrentMarker|MarkingVerifier|Compactor|StatsCollector)|workerd::jsg::(HeapTracer::(trace|traceWrapper|clearWrappers|TracePrologue|TraceEpilogue|destroy)|GcVisitor))|::jsgVisitForGc$/;
const COMPILE =
  /^(v8::internal::(Compiler|compiler|maglev|baseline|Parser|ParserBase|PreParser|Scanner|interpreter::BytecodeGenerator|BackgroundCompileTask|OptimizingCompileDispatcher|CodeGenerator|Pipeline\w*|turboshaft|wasm::)|v8::internal::\w*Compil\w*::)/;
const JS_ENTRY = /^Builtins_(JSEntry|JSConstructEntry|JSRunMicrotasksEntry|RunMicrotasks)/;

/** Named workerd APIs, by the frame's head (name without template/argument lists). First match wins. */
const API: [RegExp, NativePart][] = [
  [/^workerd::api::Response::send/, "response out (Response::send)"],
  [
    /^workerd::api::(anon::)?(fetchImpl\w*|handleHttp\w*|makeHttpResponse|ServiceWorkerGlobalScope::fetch)\b/,
    "fetch() (fetchImpl, response)",
  ],
  [/^workerd::api::Headers::/, "Headers"],
  [/^workerd::api::Body::(arrayBuffer|text|json|bytes|blob|formData)\b/, "body reads"],
  [/^workerd::api::(Request|Response|Body)::/, "Request/Response objects"],
  [/^workerd::api::(WorkerQueue|QueueEvent|QueueMessage)\w*::/, "queue send"],
  [
    /^workerd::api::(Fetcher|JsRpc\w*|DurableObject(Id|Namespace|Stub)?|ServiceBinding)\w*::/,
    "DO stub / RPC / service binding",
  ],
  [
    /^(sqlite3|workerd::(SqliteDatabase|ActorSqlite|SqliteKv|SqliteMetadata)|workerd::api::(SqlStorage|DurableObjectStorage)\w*::)/,
    "SQLite (DO, D1 storage)",
  ],
  [
    /^workerd::api::(Crypto|SubtleCrypto|CryptoKey|\w*Key(Pair)?Impl|Digest\w*|Hmac\w*|EllipticKey|RsaKey)\w*::/,
    "crypto",
  ],
  [
    /^workerd::api::(AbortSignal|AbortController)::|^workerd::api::ServiceWorkerGlobalScope::(setTimeout|clearTimeout|setInterval)\b|^workerd::IoContext::(setTimeoutImpl|clearTimeoutImpl)\b|^workerd::(anon::)?TimeoutManager\w*::/,
    "timers, AbortSignal",
  ],
  [/^workerd::api::(TextEncoder|TextDecoder|url::|URL|URLSearchParams)\w*|^ada::/, "text encode/decode, URL"],
  [
    /^workerd::api::(\w*Stream\w*|Readable\w*|Writable\w*|Transform\w*)::|^workerd::api::\w*([Pp]umpTo)/,
    "streams",
  ],
];

const ISOLATE_ENTRY =
  /^workerd::(IoContext::(run\w*|runImpl|runInContextScope|runFinalizers|drain)|Worker::(Lock|AsyncLock|takeAsyncLock\w*|runInLockScope|Isolate::\w*)|jsg::V8StackScope|api::ServiceWorkerGlobalScope::(request|runAlarm|queue)|api::(FetchEvent|ExecutionContext)::|IoContext_IncomingRequest|anon::WorkerEntrypoint|newWorkerEntrypoint|server::anon::createEntrypoint|server::worker_start_request)|^v8::(internal::MicrotaskQueue|MicrotasksScope)/;
const HTTP =
  /^(kj::(Http\w*|\w*Http\w*|AsyncIoStream|AsyncStreamFd|FdConnectionReceiver|anon::(AsyncStreamFd|Http\w*|AsyncIo\w*))|kj::anon::(AsyncStreamFd|Http\w*|AsyncPipe|PipeWriteEnd|PipeReadEnd)|kj::io::Async\w*Stream|httparse|hyper|hyper_util|h2|kj_hyper|http::|bytes::|&?mio::net|tokio::net|workerd_server::(listen|services)|worker::cxx_worker|workerd::rust::worker|__GI___libc_(write|read|writev|readv)|__GI___writev|__GI___readv|__libc_(write|read|writev|readv|send|recv)|_*(send|recv)(msg|from|to)?$|writev$|readv$)/;
const LOOP =
  /^(kj::(_::|EventLoop|WaitScope|Promise|UnixEventPort|FiberPool|Executor|Canceler)|kj_rs_tokio|kj_rs|tokio::|futures_util|futures_core|mio::sys|atomic_waker|epoll_wait$)/;
const RUST = /^(core::|alloc::|std::|__rustc|hashbrown|parking_lot|smallvec|cxx::)/;

/** The name without template and argument lists: `a::b<T>::c(int)::$_0` → `a::b::c::$_0`. */
export function head(sym: string): string {
  let s = sym.replaceAll("(anonymous namespace)", "anon");
  // Rust trait impls, `<Type as Trait>::method`: the type's path is the name.
  if (s.startsWith("<")) {
    let depth = 0;
    for (let i = 0; i < s.length; i++) {
      if (s[i] === "<") depth++;
      else if (s[i] === ">" && --depth === 0) {
        s = `${s.slice(1, i).split(" as ")[0]}${s.slice(i + 1)}`;
        break;
      }
    }
  }
  // Innermost brackets first, until none are left (operator names with brackets are rare enough here).
  for (let prev = ""; prev !== s; ) {
    prev = s;
    s = s.replace(/<[^<>]*>/g, "").replace(/\([^()]*\)/g, "");
  }
  return s.replace(/^\{lambda\}::/, "").trim();
}

const isKernel = (f: string) => f.startsWith("[k] ");

/** The part of one sample. Frames are leaf first; kernel frames carry a "[k] " prefix. */
export function classify(frames: readonly string[]): NativePart {
  if (frames.length > 0 && isKernel(frames[0] ?? "")) {
    const kernel = frames.filter(isKernel).map((f) => f.slice(4));
    if (kernel.some((f) => KERNEL_FAULT.test(f))) return "kernel: page faults";
    if (kernel.some((f) => KERNEL_NET.test(f))) return "kernel: network";
    return "kernel: other";
  }
  const heads = frames.map(head);
  if (heads.some((h) => GC.test(h))) return "GC";
  if (heads.some((h) => COMPILE.test(h))) return "V8 compile";
  // JS runs only inside an entry: unnamed frames outside one are unwinding noise at the stack's root.
  let entry = -1;
  heads.forEach((h, i) => {
    if (JS_ENTRY.test(h)) entry = i;
  });
  let nativeBelow = false;
  let api: NativePart | null = null;
  for (const [i, h] of heads.entries()) {
    for (const [rx, part] of API)
      if (rx.test(h)) {
        api = part;
        break;
      }
    if (i < entry && (h === "[unknown]" || h.startsWith("Builtins_")))
      return api ?? (nativeBelow ? "other native called from JS" : "JS execution");
    if (/^(workerd|kj|capnp)::/.test(h) && !/^workerd::jsg::/.test(h)) nativeBelow = true;
  }
  if (api) return api;
  if (heads.some((h) => ISOLATE_ENTRY.test(h))) return "isolate entry (IoContext::run)";
  // The innermost frame that names a layer: every main-thread stack has the event loop at its root.
  for (const h of heads) {
    if (HTTP.test(h)) return "HTTP and sockets (runtime)";
    if (LOOP.test(h)) return "event loop, promises (kj, tokio)";
  }
  if (heads.some((h) => RUST.test(h))) return "Rust, caller unknown";
  return "other runtime";
}

/**
 * Stacks from `perf script -F comm,tid,ip,sym` text, fed line by line: a header line `comm tid`, then one
 * `ip sym` line per frame (kernel addresses start ffff), then a blank line.
 */
export class ScriptParser {
  private current: Stack | null = null;
  private readonly onStack: (s: Stack) => void;
  constructor(onStack: (s: Stack) => void) {
    this.onStack = onStack;
  }

  line(text: string): void {
    if (text.trim() === "") {
      this.flush();
      return;
    }
    if (!/^\s/.test(text)) {
      this.flush();
      // `comm tid`, or `comm pid/tid` with -F comm,pid,tid.
      const m = /^(.*?)\s+(\d+)(?:\/\d+)?\s*$/.exec(text);
      const pid = m?.[0].includes("/") ? Number(m[2]) : undefined;
      this.current = { comm: m?.[1] ?? text.trim(), ...(pid === undefined ? {} : { pid }), frames: [] };
      return;
    }
    const m = /^\s+([0-9a-f]+)\s+(.*?)\s*$/.exec(text);
    if (!m || !this.current) return;
    const ip = m[1] ?? "";
    const sym = (m[2] ?? "").replace(/\s+\([^()]*\)$/, "") || "[unknown]";
    this.current.frames.push(ip.length >= 16 && ip.startsWith("ffff") ? `[k] ${sym}` : sym);
  }

  flush(): void {
    if (this.current) this.onStack(this.current);
    this.current = null;
  }
}

export type PartCounts = { samples: number; parts: Record<string, number> };

/** Counts samples by part (every part present, at 0 when none fell in it). */
export function tally(): { add(s: Stack): void; result: PartCounts } {
  const result: PartCounts = { samples: 0, parts: Object.fromEntries(NATIVE_PARTS.map(([p]) => [p, 0])) };
  return {
    add(s) {
      result.samples++;
      const p = classify(s.frames);
      result.parts[p] = (result.parts[p] ?? 0) + 1;
    },
    result,
  };
}
