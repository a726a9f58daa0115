import { strict as assert } from "node:assert";
import { test } from "node:test";
import { INITIAL_STATUS, Status, StatusEvent, languageState, nextStatus, renderStatus } from "../../src/status";

const everywhere = { enabled: true, languageId: "python", language: "on" as const };

function run(events: StatusEvent[]): Status {
  return events.reduce(nextStatus, INITIAL_STATUS);
}

test("a normal start: starting, loading the model, ready with its name", () => {
  const starting = run([{ kind: "starting" }]);
  assert.equal(renderStatus(starting, everywhere).text, "$(sync~spin) codegend: starting");
  const loading = nextStatus(starting, { kind: "server", params: { state: "loading", model: "default" } });
  assert.equal(renderStatus(loading, everywhere).text, "$(sync~spin) codegend: loading default");
  const ready = nextStatus(loading, { kind: "server", params: { state: "ready" } });
  const view = renderStatus(ready, everywhere);
  assert.equal(view.text, "$(check) codegend: default"); // the model name is kept from "loading"
  assert.equal(view.accessibleLabel, "codegend ready, model default");
  assert.equal(view.severity, "normal");
});

test("failures are red and say why", () => {
  const failed = run([{ kind: "server", params: { state: "failed", message: "config.yaml line 3: unknown key 'modle'" } }]);
  const view = renderStatus(failed, everywhere);
  assert.equal(view.severity, "error");
  assert.equal(view.text, "$(error) codegend: error");
  assert.match(view.tooltip, /unknown key 'modle'/);
  assert.match(view.accessibleLabel, /unknown key 'modle'/);

  const notFound = renderStatus(run([{ kind: "notFound", message: "not on PATH" }]), everywhere);
  assert.equal(notFound.severity, "error");
  assert.match(notFound.tooltip, /not on PATH/);

  const crashed = renderStatus(run([{ kind: "crashed", message: "stopped 5 times" }]), everywhere);
  assert.equal(crashed.text, "$(error) codegend: crashed");
});

test("errors show even when completions are switched off", () => {
  const view = renderStatus(run([{ kind: "startFailed", message: "spawn EACCES" }]), { ...everywhere, enabled: false });
  assert.equal(view.severity, "error");
  assert.match(view.tooltip, /spawn EACCES/);
});

test("switched off globally, by the server, or for one language", () => {
  const ready = run([{ kind: "server", params: { state: "ready", model: "default" } }]);
  assert.equal(renderStatus(ready, { ...everywhere, enabled: false }).text, "$(circle-slash) codegend: off");
  const serverOff = run([{ kind: "server", params: { state: "disabled", message: "disabled in config" } }]);
  assert.match(renderStatus(serverOff, everywhere).tooltip, /disabled in config/);
  const markdown = renderStatus(ready, { enabled: true, languageId: "markdown", language: "disabled" });
  assert.equal(markdown.text, "$(circle-slash) codegend: off for markdown");
  assert.match(markdown.tooltip, /codegend.disabledLanguages/);
  const json = renderStatus(ready, { enabled: true, languageId: "json", language: "unserved" });
  assert.equal(json.text, "$(circle-slash) codegend: off for json");
  assert.match(json.tooltip, /does not complete json/);
});

test("a restart after a crash returns to starting and keeps the model", () => {
  const status = run([
    { kind: "server", params: { state: "ready", model: "big" } },
    { kind: "starting", message: "restarting (1 of 4)" },
  ]);
  assert.deepEqual(status, { phase: "starting", model: "big", message: "restarting (1 of 4)" });
  assert.match(renderStatus(status, everywhere).tooltip, /restarting \(1 of 4\)/);
});

test("not found forgets the old model; no editor open renders without a language", () => {
  const status = run([{ kind: "server", params: { state: "ready", model: "big" } }, { kind: "notFound", message: "gone" }]);
  assert.equal(status.model, undefined);
  const view = renderStatus(run([{ kind: "server", params: { state: "ready" } }]), { enabled: true, language: "on" as const });
  assert.equal(view.text, "$(check) codegend: ready");
});

test("a daemon that restarts under a ready server shows as loading, with the server's reason", () => {
  const restarting = run([
    { kind: "server", params: { state: "ready", model: "default" } },
    { kind: "server", params: { state: "loading", message: "the daemon stopped answering; starting it again" } },
  ]);
  const view = renderStatus(restarting, everywhere);
  assert.equal(view.text, "$(sync~spin) codegend: loading default"); // not "ready" while it is not
  assert.match(view.tooltip, /the daemon stopped answering; starting it again/);
  assert.equal(view.severity, "normal"); // a passing state, not an error
});

test("a language the daemon routes to no model is off, and says how to route it", () => {
  const ready = run([{ kind: "server", params: { state: "ready", model: "tiny-py", languages: ["python", "vue"] } }]);
  assert.equal(languageState(ready, "python", true), "on");
  assert.equal(languageState(ready, "vue", true), "on");
  assert.equal(languageState(ready, "rust", true), "unrouted");
  assert.equal(languageState(ready, "rust", false), "disabled"); // the user's setting says more
  assert.equal(languageState(ready, "json", true), "unserved");
  const rust = renderStatus(ready, { enabled: true, languageId: "rust", language: languageState(ready, "rust", true) });
  assert.equal(rust.text, "$(circle-slash) codegend: off for rust");
  assert.match(rust.tooltip, /No model serves rust: route it .*config file/);
  assert.equal(rust.severity, "normal");
  // A fallback route (no list) serves every language; a restarting server has said nothing yet.
  const everything = nextStatus(ready, { kind: "server", params: { state: "ready" } });
  assert.equal(languageState(everything, "rust", true), "on");
  const restarting = nextStatus(ready, { kind: "starting", message: "restarting" });
  assert.equal(languageState(restarting, "rust", true), "on");
});
