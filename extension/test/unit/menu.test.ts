import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { SERVED_LANGUAGES } from "../../src/languages";
import { menuItems, modelPickItems } from "../../src/menu";
import { Phase } from "../../src/status";

const manifest = JSON.parse(readFileSync(join(__dirname, "..", "..", "..", "package.json"), "utf8"));
const declared = new Set<string>(manifest.contributes.commands.map((command: { command: string }) => command.command));

test("the menu offers what makes sense in each state", () => {
  const ready = menuItems({ phase: "ready", model: "default" }, true, "/c.yaml").map((item) => item.command);
  assert.deepEqual(ready, ["codegend.disable", "codegend.selectModel", "codegend.showStats", "codegend.showOutput",
    "codegend.openConfig", "codegend.restartServer"]);
  const notFound = menuItems({ phase: "notFound" }, false, "/c.yaml").map((item) => item.command);
  assert.deepEqual(notFound, ["codegend.enable", "codegend.showOutput", "codegend.openConfig", "codegend.openServerSetting"]);
});

test("every command the menu runs is declared in package.json", () => {
  const phases: Phase[] = ["starting", "loading", "ready", "disabled", "failed", "notFound", "crashed", "stopped"];
  for (const phase of phases) {
    for (const enabled of [true, false]) {
      for (const item of menuItems({ phase }, enabled, "/c.yaml")) {
        assert.ok(declared.has(item.command), `${item.command} (menu in ${phase}) is not in package.json`);
      }
    }
  }
});

test("the extension activates on exactly the languages its client serves", () => {
  const activation = manifest.activationEvents
    .filter((event: string) => event.startsWith("onLanguage:"))
    .map((event: string) => event.slice("onLanguage:".length));
  assert.deepEqual(activation, [...SERVED_LANGUAGES]);
});

test("the model pick marks the selection and the active model", () => {
  const items = modelPickItems({ models: [{ name: "default", state: "ready" }, { name: "big", state: "loading" }], active: "default" }, "big");
  assert.deepEqual(items.map((item) => [item.model, item.picked, item.description]), [
    [null, false, "config routes (now default)"],
    ["default", false, "ready · active"],
    ["big", true, "loading"],
  ]);
  assert.equal(items[2]?.label, "$(check) big");
});
