import { strict as assert } from "node:assert";
import { test } from "node:test";
import { OutputTail, explainServerExit } from "../../src/serverExit";

test("a Python without codegend is named as the cause, and restarting cannot fix it", () => {
  const explanation = explainServerExit(["/usr/bin/python3: No module named codegend"], "/usr/bin/python3");
  assert.ok(explanation !== undefined && explanation.permanent);
  assert.match(explanation.message, /The Python at \/usr\/bin\/python3 does not have codegend installed/);
  assert.match(explanation.message, /codegend\.server\.command/);
  assert.doesNotMatch(explanation.message, /EPIPE/);
});

test("a codegend script whose package is gone says so", () => {
  const explanation = explainServerExit([
    "Traceback (most recent call last):",
    "ModuleNotFoundError: No module named 'codegend'",
  ], "/home/ada/.local/bin/codegend");
  assert.ok(explanation?.permanent);
  assert.match(explanation.message, /cannot find the codegend package/);
});

test("any other end is explained by the last line the server wrote", () => {
  const explanation = explainServerExit(["INFO starting", "codegend: error: --tcp needs a port", ""], "codegend");
  assert.deepEqual(explanation, { permanent: false, message: "codegend: error: --tcp needs a port" });
  assert.equal(explainServerExit([], "codegend"), undefined);
  // A module with a longer name is not codegend missing.
  assert.equal(explainServerExit(["No module named codegend_plugins"], "python")?.permanent, false);
});

test("the tail keeps the last lines only", () => {
  const tail = new OutputTail(2);
  for (const line of ["a", "b", "c"]) {
    tail.push(line);
  }
  assert.deepEqual(tail.all, ["b", "c"]);
});
