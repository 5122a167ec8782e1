import { expect, it } from "vitest";
import { BoundedMap } from "../src/lib/bounded-map";

it("forgets its oldest entry at the limit, and replacing a key costs no entry", () => {
  const m = new BoundedMap<string, number>(2);
  m.set("a", 1).set("b", 2).set("b", 3);
  expect([...m]).toEqual([
    ["a", 1],
    ["b", 3],
  ]);
  m.set("c", 4);
  expect([...m.keys()]).toEqual(["b", "c"]);
});
