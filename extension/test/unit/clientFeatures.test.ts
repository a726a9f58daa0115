import { strict as assert } from "node:assert";
import { test } from "node:test";
import { isLeftOut } from "../../src/clientFeatures";

test("the completion item feature is left out, inline completion and the rest are kept", () => {
  assert.equal(isLeftOut({ registrationType: { method: "textDocument/completion" } }), true);
  assert.equal(isLeftOut({ registrationType: { method: "textDocument/inlineCompletion" } }), false);
  assert.equal(isLeftOut({ registrationType: { method: "textDocument/didOpen" } }), false);
  assert.equal(isLeftOut({ fillClientCapabilities: () => undefined }), false); // a static feature
  assert.equal(isLeftOut(undefined), false);
});
