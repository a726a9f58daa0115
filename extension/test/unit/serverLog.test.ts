import { strict as assert } from "node:assert";
import { test } from "node:test";
import { ServerLogClassifier } from "../../src/serverLog";

test("plain progress is info, warnings and errors are told apart", () => {
  const classifier = new ServerLogClassifier();
  const lines: Array<[string, string]> = [
    ["codegend: model default: loading builtin:tiny-py", "info"],
    ["codegend: model default: ready (backend: onnx)", "info"],
    ["codegend: warning: the GPU is busy; using the CPU", "warn"],
    ["2026-01-01 12:00:00 codegend.lsp.server WARNING: slow client", "warn"],
    ["codegend: error: config.yaml line 3: unknown key 'modle'", "error"],
    ["ERROR:pygls.protocol: failed to handle a request", "error"],
  ];
  for (const [line, level] of lines) {
    assert.equal(classifier.level(line), level, line);
  }
});

test("a traceback is one error, and the next line is judged on its own", () => {
  const classifier = new ServerLogClassifier();
  const traceback = [
    "Traceback (most recent call last):",
    '  File "/x/server.py", line 10, in handler',
    "    return model.run()",
    "codegend.engine.errors.ModelSourceError: no weights in /m",
  ];
  assert.deepEqual(traceback.map((line) => classifier.level(line)), ["error", "error", "error", "error"]);
  assert.equal(classifier.level("codegend: model default: ready"), "info");
});
