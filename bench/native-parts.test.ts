// Canned `perf script` stacks (shortened from real workerd samples) and the part each must land in.
import assert from "node:assert/strict";
import { test } from "node:test";
import { classify, head, NATIVE_PARTS, ScriptParser, type Stack, tally } from "./native-parts.ts";

const RUN_IMPL =
  "kj::Function<void (workerd::Worker::Lock&)>::Impl<workerd::IoContext::runImpl(workerd::IoContext::Runnable&, workerd::Worker::LockType, kj::Maybe<workerd::InputGate::Lock>, workerd::IoContext_Runnable_Exceptional)::$_0>::operator()";
const ROOT = [
  "workerd::IoContext::runInContextScope",
  "workerd::IoContext::runImpl",
  "kj::_::waitImpl",
  "workerd_server::entry::serve",
];
const JS = [
  "[unknown]",
  "[unknown]",
  "Builtins_JSEntryTrampoline",
  "Builtins_JSEntry",
  "v8::Function::Call",
  RUN_IMPL,
  ...ROOT,
];
const FROM_JS = ["Builtins_CallApiCallbackGeneric", ...JS];

test("head drops template and argument lists, and reads Rust trait impls by their type", () => {
  assert.equal(
    head("workerd::api::Headers::set(workerd::jsg::Lock&, kj::String)"),
    "workerd::api::Headers::set",
  );
  assert.equal(head(RUN_IMPL), "kj::Function::Impl::operator");
  assert.equal(
    head("<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::parse"),
    "hyper::proto::h1::role::Server::parse",
  );
});

test("a native API called from JS is the API's, whatever runs below it (other APIs included)", () => {
  const inFetch = [
    "workerd::api::Headers::Headers",
    "workerd::api::fetchImpl(workerd::jsg::Lock&)",
    ...FROM_JS,
  ];
  assert.equal(classify(inFetch), "fetch() (fetchImpl, response)");
  const read = [
    "workerd::api::ReadableStreamInternalController::readAllBytes",
    "workerd::api::Body::arrayBuffer",
    ...FROM_JS,
  ];
  assert.equal(classify(read), "body reads");
  const headers = [
    "__memmove_avx512_unaligned_erms",
    "kj::heapString",
    "workerd::api::Headers::Headers(workerd::jsg::Lock&, kj::OneOf<…>)",
    "workerd::api::Headers::constructor",
    ...FROM_JS,
  ];
  assert.equal(classify(headers), "Headers");
  assert.equal(
    classify(["workerd::api::fetchImpl(workerd::jsg::Lock&)", ...FROM_JS]),
    "fetch() (fetchImpl, response)",
  );
  assert.equal(classify(["workerd::api::Body::arrayBuffer", ...FROM_JS]), "body reads");
  assert.equal(classify(["workerd::api::WorkerQueue::sendBatch", ...FROM_JS]), "queue send");
});

test("the outermost frame does not decide: a lambda mentioning AbortSignal around Response::send", () => {
  const stack = [
    "workerd::api::Response::send(workerd::jsg::Lock&, kj::HttpService::Response&)",
    "workerd::api::ServiceWorkerGlobalScope::request(…)::$_2::operator()(workerd::api::AbortSignal&)",
    RUN_IMPL,
    ...ROOT,
  ];
  assert.equal(classify(stack), "response out (Response::send)");
});

test("JS, JS reaching an unnamed native, and GC anywhere", () => {
  assert.equal(classify(JS), "JS execution");
  assert.equal(
    classify(["v8::internal::JsonParser::ParseJsonValue", "Builtins_JsonParse", ...JS]),
    "JS execution",
  );
  assert.equal(
    classify(["workerd::jsg::Foo::bar", "workerd::api::Something::method", ...FROM_JS]),
    "other native called from JS",
  );
  const gc = [
    "v8::internal::Scavenger::ScavengeObject",
    "v8::internal::Heap::CollectGarbage",
    "v8::internal::Factory::NewJSObject",
    "workerd::api::Headers::constructor",
    ...FROM_JS,
  ];
  assert.equal(classify(gc), "GC");
});

test("no JS and no API: entering the isolate, HTTP, the event loop; unnamed roots are not JS", () => {
  assert.equal(
    classify([
      "workerd::jsg::Wrappable::attachOpaqueWrapper",
      "workerd::api::ServiceWorkerGlobalScope::request",
      RUN_IMPL,
      ...ROOT,
    ]),
    "isolate entry (IoContext::run)",
  );
  assert.equal(
    classify([
      "httparse::simd::runtime::match_uri_vectored",
      "<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::parse",
      "[unknown]",
    ]),
    "HTTP and sockets (runtime)",
  );
  assert.equal(
    classify(["kj::_::ChainPromiseNode::fire", "kj::_::waitImpl", "workerd_server::entry::serve"]),
    "event loop, promises (kj, tokio)",
  );
  assert.equal(
    classify(["core::ptr::drop_glue::<alloc::vec::Vec<u8>>", "[unknown]"]),
    "Rust, caller unknown",
  );
});

test("kernel samples by their kernel frames", () => {
  const k = (...f: string[]) => f.map((x) => `[k] ${x}`);
  assert.equal(
    classify([...k("pvm_irq_enable", "tcp_sendmsg", "__sys_sendto"), "__send"]),
    "kernel: network",
  );
  assert.equal(
    classify([
      ...k("clear_page_erms", "do_anonymous_page", "handle_mm_fault", "asm_exc_page_fault"),
      "tcmalloc::x",
    ]),
    "kernel: page faults",
  );
  assert.equal(
    classify([...k("pvm_irq_enable", "finish_task_switch.isra.0", "__schedule", "futex_wait")]),
    "kernel: other",
  );
});

test("ScriptParser reads perf script text (comm with spaces, kernel addresses) and tally counts every part", () => {
  const text = [
    "workerd 21040 ",
    "\t          108f36 epoll_wait",
    "",
    "V8 DefaultWorke 21050 ",
    "\tffffffff8225fd19 pvm_irq_enable",
    "\t         2d39490 v8::internal::ScavengerCollector::CollectGarbage (/bin/workerd)",
    "",
    "workerd 21001/21040",
    "\t          108f36 epoll_wait",
    "",
  ];
  const stacks: Stack[] = [];
  const p = new ScriptParser((s) => stacks.push(s));
  for (const l of text) p.line(l);
  p.flush();
  assert.deepEqual(stacks, [
    { comm: "workerd", frames: ["epoll_wait"] },
    {
      comm: "V8 DefaultWorke",
      frames: ["[k] pvm_irq_enable", "v8::internal::ScavengerCollector::CollectGarbage"],
    },
    { comm: "workerd", pid: 21001, frames: ["epoll_wait"] },
  ]);
  const t = tally();
  for (const s of stacks) t.add(s);
  assert.equal(t.result.samples, 3);
  assert.equal(t.result.parts["event loop, promises (kj, tokio)"], 2);
  assert.equal(t.result.parts["kernel: other"], 1);
  assert.equal(Object.keys(t.result.parts).length, NATIVE_PARTS.length);
});
