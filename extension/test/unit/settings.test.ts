import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  DEFAULT_SETTINGS, SERVER_KEYS, defaultConfigPath, expandPath, isEnabledFor, readExtensionSettings, serverSettings,
} from "../../src/settings";

const paths = { home: "/home/ada", workspaceFolder: "/work/project" };

function sent(values: Record<string, unknown>) {
  return serverSettings((key) => values[key], paths);
}

function fromObject(values: Record<string, unknown>) {
  return readExtensionSettings((key) => values[key], paths);
}

test("unset settings are not sent (the server keeps its defaults) and read as the defaults", () => {
  assert.deepEqual(sent({}), {});
  assert.deepEqual(fromObject({}), { ...DEFAULT_SETTINGS });
});

test("user values are sent as written; only configPath is resolved", () => {
  const values = {
    enable: false,
    disabledLanguages: ["markdown", " json ", "markdown"],
    configPath: "~/codegend.yaml",
    debounceMs: 120,
    maxCompletion: "line",
    model: "  big  ",
    "server.command": "codegend",
  };
  assert.deepEqual(sent(values), {
    enable: false,
    disabledLanguages: ["markdown", " json ", "markdown"],
    configPath: "/home/ada/codegend.yaml",
    debounceMs: 120,
    maxCompletion: "line",
    model: "  big  ",
  });
  assert.deepEqual(fromObject(values), {
    enable: false,
    disabledLanguages: ["markdown", "json", "markdown"],
    configPath: "/home/ada/codegend.yaml",
    model: "big",
  });
});

test("values the server cannot use are sent unchanged for it to warn about, never clamped", () => {
  const values = {
    enable: "yes",
    disabledLanguages: "markdown",
    configPath: 42,
    debounceMs: 99999,
    maxCompletion: "paragraph",
    model: "",
  };
  assert.deepEqual(sent(values), values);
  const own = fromObject(values);
  assert.equal(own.enable, true);
  assert.deepEqual(own.disabledLanguages, []);
  assert.equal(own.configPath, null);
  assert.equal(own.model, null);
});

test("language switches: the global one wins, then the per-language list", () => {
  const settings = fromObject({ disabledLanguages: ["markdown"] });
  assert.equal(isEnabledFor(settings, "python"), true);
  assert.equal(isEnabledFor(settings, "markdown"), false);
  assert.equal(isEnabledFor({ ...settings, enable: false }, "python"), false);
});

test("config paths: ~, ${workspaceFolder}, relative, empty", () => {
  assert.equal(expandPath("~/c.yaml", paths), "/home/ada/c.yaml");
  assert.equal(expandPath("${workspaceFolder}/.codegend.yaml", paths), "/work/project/.codegend.yaml");
  assert.equal(expandPath("conf/c.yaml", paths), "/work/project/conf/c.yaml");
  assert.equal(expandPath("/etc/codegend.yaml", paths), "/etc/codegend.yaml");
  assert.equal(expandPath("C:\\cfg\\c.yaml", paths), "C:\\cfg\\c.yaml");
  assert.equal(expandPath("   ", paths), null);
  assert.equal(expandPath(42, paths), null);
  // Without a workspace the variable cannot be expanded; the path stays as the user wrote it.
  assert.equal(expandPath("${workspaceFolder}/c.yaml", { home: "/h" }), "${workspaceFolder}/c.yaml");
});

test("the default config path follows platformdirs", () => {
  assert.equal(defaultConfigPath({ platform: "linux", home: "/home/ada" }), "/home/ada/.config/codegend/config.yaml");
  assert.equal(defaultConfigPath({ platform: "linux", home: "/home/ada", configHome: "/xdg" }), "/xdg/codegend/config.yaml");
  assert.equal(defaultConfigPath({ platform: "linux", home: "/home/ada", configHome: "relative" }),
    "/home/ada/.config/codegend/config.yaml");
  assert.equal(defaultConfigPath({ platform: "darwin", home: "/Users/ada" }),
    "/Users/ada/Library/Application Support/codegend/config.yaml");
  assert.equal(defaultConfigPath({ platform: "win32", home: "C:\\Users\\ada", configHome: "C:\\Users\\ada\\AppData\\Local" }),
    "C:\\Users\\ada\\AppData\\Local\\codegend\\codegend\\config.yaml");
});

// The server reads these keys (lsp/settings.py); a key only one side knows is a silent bug.
test("the keys sent are exactly the ones the server's converter reads", (t) => {
  let source: string;
  try {
    source = readFileSync(join(__dirname, "..", "..", "..", "..", "lsp", "settings.py"), "utf8");
  } catch {
    t.skip("lsp/settings.py is not beside this extension");
    return;
  }
  const block = source.slice(source.indexOf("_PARSERS"), source.indexOf("}", source.indexOf("_PARSERS")));
  const serverKeys = [...block.matchAll(/"([a-z_]+)":/g)].map((match) =>
    match[1].replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase()));
  assert.ok(serverKeys.length >= 5, `parsed too few keys from lsp/settings.py: ${serverKeys}`);
  assert.deepEqual([...SERVER_KEYS].sort(), serverKeys.sort());
  const everySet = Object.fromEntries(SERVER_KEYS.map((key) => [key, "x"]));
  assert.deepEqual(Object.keys(sent(everySet)).sort(), serverKeys.sort());
});
