import { strict as assert } from "node:assert";
import { test } from "node:test";
import { parseModelsResult, parseStatusParams } from "../../src/protocol";

test("status notifications are checked", () => {
  assert.deepEqual(parseStatusParams({ state: "ready", model: "default", message: "" }),
    { state: "ready", model: "default", message: undefined });
  assert.deepEqual(parseStatusParams({ state: "failed", message: "boom", extra: 1 }),
    { state: "failed", model: undefined, message: "boom" });
  assert.deepEqual(parseStatusParams({ state: "ready", languages: ["python", 3, "vue"] }),
    { state: "ready", model: undefined, message: undefined, languages: ["python", "vue"] });
  assert.deepEqual(parseStatusParams({ state: "ready", languages: null }),
    { state: "ready", model: undefined, message: undefined });
  assert.equal(parseStatusParams({ state: "exploded" }), undefined);
  assert.equal(parseStatusParams({ model: "x" }), undefined);
  assert.equal(parseStatusParams(null), undefined);
  assert.equal(parseStatusParams("ready"), undefined);
});

test("model lists keep named entries and drop junk", () => {
  assert.deepEqual(
    parseModelsResult({ models: [{ name: "default", state: "ready" }, { name: "" }, { state: "x" }, 7, { name: "big" }], active: "default" }),
    { models: [{ name: "default", state: "ready" }, { name: "big", state: undefined }], active: "default" },
  );
  assert.throws(() => parseModelsResult({ names: [] }), /no `models` list/);
  assert.throws(() => parseModelsResult(undefined), /no `models` list/);
});
