import { strict as assert } from "node:assert";
import { test } from "node:test";
import { findExecutable, isPythonInterpreter, resolveServerCommand } from "../../src/serverCommand";

function environment(executables: string[], path = "/usr/local/bin:/usr/bin", platform: NodeJS.Platform = "linux") {
  const set = new Set(executables);
  return { path, platform, home: "/home/ada", isExecutable: (file: string) => set.has(file) };
}

test("the default runs `codegend lsp` found on PATH", () => {
  const resolution = resolveServerCommand(undefined, undefined, environment(["/usr/bin/codegend"]));
  assert.deepEqual(resolution, {
    ok: true,
    server: { command: "/usr/bin/codegend", args: ["lsp"] },
    description: "/usr/bin/codegend lsp",
  });
});

test("the first PATH entry that has the command wins", () => {
  const resolution = resolveServerCommand("codegend", ["lsp", "--embedded"],
    environment(["/usr/local/bin/codegend", "/usr/bin/codegend"]));
  assert.ok(resolution.ok);
  assert.equal(resolution.server.command, "/usr/local/bin/codegend");
  assert.deepEqual(resolution.server.args, ["lsp", "--embedded"]);
});

test("a Python interpreter runs the server as a module", () => {
  const resolution = resolveServerCommand("/work/.venv/bin/python3.12", ["lsp"], environment(["/work/.venv/bin/python3.12"]));
  assert.ok(resolution.ok);
  assert.deepEqual(resolution.server, { command: "/work/.venv/bin/python3.12", args: ["-m", "codegend", "lsp"] });
});

test("Python interpreter names are told apart from other executables", () => {
  for (const name of ["python", "python3", "/x/bin/python3.11", "C:\\venv\\Scripts\\python.exe", "pythonw.exe"]) {
    assert.equal(isPythonInterpreter(name), true, name);
  }
  for (const name of ["codegend", "/opt/python-tools/codegend", "pythonista", "ipython"]) {
    assert.equal(isPythonInterpreter(name), false, name);
  }
});

test("a missing command gives one message naming the setting", () => {
  const resolution = resolveServerCommand("codegend", undefined, environment([]));
  assert.equal(resolution.ok, false);
  assert.ok(!resolution.ok && resolution.message.includes("on PATH"));
  assert.ok(!resolution.ok && resolution.message.includes("codegend.server.command"));
  const missingPath = resolveServerCommand("/opt/missing/codegend", undefined, environment(["/usr/bin/codegend"]));
  assert.ok(!missingPath.ok && missingPath.message.includes("at /opt/missing/codegend"));
});

test("a path is checked as written, never looked up on PATH", () => {
  assert.equal(findExecutable("./bin/codegend", environment(["/usr/bin/codegend"])), undefined);
  assert.equal(findExecutable("~/bin/codegend", environment(["/home/ada/bin/codegend"])), undefined);
  const resolution = resolveServerCommand("~/bin/codegend", undefined, environment(["/home/ada/bin/codegend"]));
  assert.ok(resolution.ok && resolution.server.command === "/home/ada/bin/codegend");
});

test("blank or malformed settings fall back to the defaults", () => {
  const resolution = resolveServerCommand("  ", [1, 2], environment(["/usr/bin/codegend"]));
  assert.ok(resolution.ok);
  assert.deepEqual(resolution.server, { command: "/usr/bin/codegend", args: ["lsp"] });
});

test("on Windows, PATH uses ; and executables have extensions", () => {
  const env = environment(["C:\\Tools\\codegend.exe"], "C:\\Windows;C:\\Tools\\", "win32");
  assert.equal(findExecutable("codegend", env), "C:\\Tools\\codegend.exe");
});
