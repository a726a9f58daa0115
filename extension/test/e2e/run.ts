// End-to-end test of the packaged extension in a real VS Code (code-server) driven by a real
// browser (Debian's headless Chromium through playwright-core).
//
//   node out/test/e2e/run.js
//
// Environment: CODE_SERVER_ENTRY (code-server's out/node/entry.js; scripts/install-code-server.sh
// prints it), CHROMIUM (default /usr/bin/chromium), CODEGEND_COMMAND (default: the repository's
// .venv/bin/codegend, else `codegend` on PATH), E2E_READY_TIMEOUT_S (default 600),
// E2E_ONLY (comma-separated scenario names), E2E_KEEP_LOGS (copy VS Code's logs even on success),
// E2E_CODEGEND_CONFIG (a codegend YAML config for the scenarios that complete; default: none,
// so the server serves its embedded default model), E2E_CODEGEND_DEBUG (the server logs at debug
// level into the output channel's log).
// Scenarios that need `codegend lsp` are skipped, with the reason, when it is not available.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { Browser, Page, chromium } from "playwright-core";
import { CodeServer, sleep } from "./codeServer";
import {
  closeWorkbench, ghostText, openFile, openWorkbench, runCommand, waitForNotification, waitForStatus,
} from "./workbench";

const EXTENSION_DIR = resolve(__dirname, "..", "..", "..");
const REPO_DIR = resolve(EXTENSION_DIR, "..");
const ARTIFACTS = join(EXTENSION_DIR, "test-artifacts");
const READY_TIMEOUT_MS = Number(process.env.E2E_READY_TIMEOUT_S ?? 600) * 1000;

const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

const USER_SETTINGS = {
  "files.autoSave": "off",
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "editor.inlineSuggest.enabled": true,
  "editor.minimap.enabled": false,
  "editor.quickSuggestions": { other: false, comments: false, strings: false },
  "editor.suggestOnTriggerCharacters": false,
  "editor.wordBasedSuggestions": "off",
  "editor.acceptSuggestionOnEnter": "off",
};

const PYTHON_SOURCE = "def add(a, b):\n    return a + b\n\n\ndef multiply(a, b):";

interface Context {
  browser: Browser;
  codeServer: CodeServer;
  root: string;
  codegend: string;
}

type Outcome = { result: "pass"; detail: string } | { result: "skip"; detail: string };
type Scenario = { name: string; needsServer: boolean; run: (context: Context) => Promise<Outcome> };

/** A folder with a `.vscode/settings.json` and files; returns its path. */
function workspace(root: string, name: string, settings: Record<string, unknown>, files: Record<string, string>): string {
  const folder = join(root, "workspaces", name);
  mkdirSync(join(folder, ".vscode"), { recursive: true });
  writeFileSync(join(folder, ".vscode", "settings.json"), JSON.stringify(settings, null, 2));
  for (const [file, text] of Object.entries(files)) {
    writeFileSync(join(folder, file), text);
  }
  return folder;
}

async function withPage<T>(context: Context, folder: string, name: string, body: (page: Page) => Promise<T>): Promise<T> {
  const page = await openWorkbench(context.browser, context.codeServer.url(folder));
  try {
    return await body(page);
  } catch (err) {
    await page.screenshot({ path: join(ARTIFACTS, `e2e-${name}-failure.png`) }).catch(() => undefined);
    throw err;
  } finally {
    await closeWorkbench(page);
  }
}

const notFound: Scenario = {
  name: "server-not-found",
  needsServer: false,
  run: (context) => {
    const folder = workspace(context.root, "not-found", { "codegend.server.command": "/nonexistent/bin/codegend" },
      { "main.py": PYTHON_SOURCE });
    return withPage(context, folder, "server-not-found", async (page) => {
      await openFile(page, "main.py", "def add(a, b):");
      const label = await waitForStatus(page, /codegend server not found/, 60_000);
      const message = await waitForNotification(page, /was not found at \/nonexistent\/bin\/codegend/, 30_000);
      await page.screenshot({ path: join(ARTIFACTS, "e2e-server-not-found.png") });
      await page.locator(".notification-toast .monaco-button", { hasText: "Open Setting" }).first().click();
      await page.locator(".settings-editor").waitFor({ timeout: 30_000 });
      await page.locator(".settings-editor .setting-item-contents", { hasText: "Server: Command" }).first()
        .waitFor({ timeout: 30_000 });
      return { result: "pass", detail: `status "${label}"; notification "${message.slice(0, 80)}…"; Open Setting opened the setting` };
    });
  },
};

const pythonWithoutCodegend: Scenario = {
  name: "python-without-codegend",
  needsServer: false,
  run: (context) => {
    // The system Python has no codegend: the cause is named, not "write EPIPE", and the
    // server is not restarted in vain.
    const folder = workspace(context.root, "no-codegend", { "codegend.server.command": "/usr/bin/python3" },
      { "main.py": PYTHON_SOURCE });
    return withPage(context, folder, "python-without-codegend", async (page) => {
      await openFile(page, "main.py", "def add(a, b):");
      const message = await waitForNotification(page, /does not have codegend installed/, 60_000);
      const label = await waitForStatus(page, /codegend server not found/, 10_000);
      if (/EPIPE|crashed/.test(message + label)) {
        throw new Error(`the cause is hidden: "${message}" / "${label}"`);
      }
      await page.screenshot({ path: join(ARTIFACTS, "e2e-python-without-codegend.png") });
      return { result: "pass", detail: `status "${label}"; notification "${message.slice(0, 90)}…"` };
    });
  },
};

const crashing: Scenario = {
  name: "server-crashes",
  needsServer: false,
  run: (context) => {
    // /bin/false exits at once: every start fails, and the restart budget runs out.
    const folder = workspace(context.root, "crashes", { "codegend.server.command": "/bin/false" }, { "main.py": PYTHON_SOURCE });
    return withPage(context, folder, "server-crashes", async (page) => {
      await openFile(page, "main.py", "def add(a, b):");
      const label = await waitForStatus(page, /codegend server crashed/, 90_000);
      const message = await waitForNotification(page, /will not be restarted/, 30_000);
      await page.screenshot({ path: join(ARTIFACTS, "e2e-server-crashes.png") });
      return { result: "pass", detail: `status "${label}"; notification "${message.slice(0, 70)}…"` };
    });
  },
};

/** Workspace settings that run the real server (embedded), on E2E_CODEGEND_CONFIG if given. */
function serverSettings(context: Context): Record<string, unknown> {
  const settings: Record<string, unknown> = {
    "codegend.server.command": context.codegend,
    "codegend.server.args": process.env.E2E_CODEGEND_DEBUG ? ["--debug", "lsp", "--embedded"] : ["lsp", "--embedded"],
  };
  if (process.env.E2E_CODEGEND_CONFIG) {
    settings["codegend.configPath"] = process.env.E2E_CODEGEND_CONFIG;
  }
  return settings;
}

const ghostTextScenario: Scenario = {
  name: "ghost-text-accept",
  needsServer: true,
  run: (context) => {
    const folder = workspace(context.root, "python", { ...serverSettings(context), "codegend.trace.server": "verbose" },
      { "main.py": PYTHON_SOURCE });
    const file = join(folder, "main.py");
    return withPage(context, folder, "ghost-text-accept", async (page) => {
      await openFile(page, "main.py", "def add(a, b):");
      const ready = await waitForStatus(page, /^codegend (ready|error|server)/, READY_TIMEOUT_MS);
      if (!ready.startsWith("codegend ready")) {
        throw new Error(`the server did not become ready: ${ready}`);
      }
      // The cursor goes to the end of the last line, `def multiply(a, b):`; Enter indents.
      await page.locator(".monaco-editor .view-lines").first().click();
      await page.keyboard.press("Control+End");
      await page.keyboard.press("Enter");
      // The model may answer nothing useful at one spot (post-processing drops an empty or
      // repeated line); then the test types a little more, as a user would, and asks again.
      let typed = "";
      let ghost: string | undefined;
      for (const more of ["return ", "a", " *", " b"]) {
        await page.keyboard.type(more, { delay: 60 });
        typed += more;
        ghost = await waitForGhost(page, 20_000);
        if (ghost === undefined) {
          await runCommand(page, "Trigger Inline Suggestion"); // an explicit (Invoked) request
          ghost = await waitForGhost(page, 20_000);
        }
        if (ghost !== undefined) {
          break;
        }
      }
      if (ghost === undefined) {
        throw new Error(`no ghost text appeared while typing ${JSON.stringify(typed)}, automatic or explicit`);
      }
      await page.screenshot({ path: join(ARTIFACTS, "e2e-ghost-text.png") });
      await page.keyboard.press("Tab");
      await waitUntil(async () => (await ghostText(page)) === undefined, 10_000, "the ghost text to be accepted");
      await page.keyboard.press("Control+S");
      const expected = `${PYTHON_SOURCE}\n    ${typed}${ghost}`;
      const saved = await waitUntil(async () => {
        const text = readFileSync(file, "utf8");
        return text !== PYTHON_SOURCE ? text : undefined;
      }, 15_000, "the file to be saved");
      if (!saved.startsWith(expected)) {
        throw new Error(`saved file differs from the accepted ghost text.\nexpected to start with:\n${expected}\nsaved:\n${saved}`);
      }
      const after = await waitForStatus(page, /^codegend ready/, 10_000);
      await page.screenshot({ path: join(ARTIFACTS, "e2e-accepted.png") });
      // The item's accept command went to the server, which counted it.
      await runCommand(page, "codegend: Show Statistics");
      const stats = await waitForNotification(page, /accepted [1-9]\d* of [1-9]\d* shown/, 30_000);
      // Settings reach the running server: off, then on again, and the server says ready.
      await runCommand(page, "codegend: Disable Completions");
      await waitForStatus(page, /^codegend disabled/, 15_000);
      await runCommand(page, "codegend: Enable Completions");
      await waitForStatus(page, /^codegend ready/, 30_000);
      // Alt+\ (the key the README names) asks for an inline suggestion explicitly: an Invoked
      // request reaches the server whatever the model then answers.
      const invokedBefore = invokedRequests(readChannelLogs(context.codeServer.userDataDir));
      await page.locator(".monaco-editor .view-lines").first().click();
      await page.keyboard.press("Control+End");
      await page.keyboard.press("Alt+Backslash");
      await waitUntil(async () => invokedRequests(readChannelLogs(context.codeServer.userDataDir)) >
        invokedBefore || undefined, 20_000, "an Invoked inline completion request after Alt+\\");
      await page.keyboard.press("Escape");
      // IntelliSense (Ctrl+Space) does not ask codegend: the ghost text is not listed again.
      await page.keyboard.press("Control+Space");
      await sleep(2000);
      await page.keyboard.press("Escape");
      if (/Sending request 'textDocument\/completion /.test(readChannelLogs(context.codeServer.userDataDir))) {
        throw new Error("VS Code asked codegend for IntelliSense items (the ghost text would be listed twice)");
      }
      // The output channel holds the protocol trace (codegend.trace.server = verbose).
      const log = await waitUntil(async () => {
        const text = readChannelLogs(context.codeServer.userDataDir);
        return text.includes("textDocument/inlineCompletion") && text.includes("workspace/executeCommand") ? text : undefined;
      }, 15_000, "the protocol trace in the output channel's log");
      return {
        result: "pass",
        detail: `typed ${JSON.stringify(typed)}, accepted ${JSON.stringify(ghost)} and read it back from disk; ` +
          `status "${after}"; "${stats}"; ` +
          `disable/enable round trip; Alt+\\ sent an Invoked request; no IntelliSense request; ` +
          `trace of ${log.split("\n").length} lines`,
      };
    });
  },
};

/** How many inline completion requests with triggerKind Invoked the protocol trace shows. */
function invokedRequests(log: string): number {
  return log.split("Sending request 'textDocument/inlineCompletion").slice(1)
    .filter((request) => /"triggerKind": 1\b/.test(request.split("Sending ")[0] ?? "")).length;
}

async function waitForGhost(page: Page, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = await ghostText(page);
    if (text !== undefined && text.trim() !== "") {
      await sleep(500); // a streamed or re-requested completion may still grow; read it settled
      return (await ghostText(page)) ?? text;
    }
    await sleep(200);
  }
  return undefined;
}

async function waitUntil<T>(probe: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined && value !== false) {
      return value as T;
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

const badConfigPath: Scenario = {
  name: "invalid-config-path",
  needsServer: true,
  run: (context) => {
    const folder = workspace(context.root, "bad-config", {
      "codegend.server.command": context.codegend,
      "codegend.server.args": ["lsp", "--embedded"],
      "codegend.configPath": "/nonexistent/codegend.yaml",
    }, { "main.py": PYTHON_SOURCE });
    return withPage(context, folder, "invalid-config-path", async (page) => {
      await openFile(page, "main.py", "def add(a, b):");
      const label = await waitForStatus(page, /^codegend (error|ready)/, READY_TIMEOUT_MS);
      if (!/error.*\/nonexistent\/codegend\.yaml/.test(label)) {
        throw new Error(`expected an error naming the config path, got: ${label}`);
      }
      await page.screenshot({ path: join(ARTIFACTS, "e2e-invalid-config-path.png") });
      return { result: "pass", detail: `status "${label}"` };
    });
  },
};

// The built-in config routes no model to Rust: opening a Rust file says so, quietly.
const unroutedLanguage: Scenario = {
  name: "unrouted-language",
  needsServer: true,
  run: (context) => {
    const folder = workspace(context.root, "rust", serverSettings(context),
      { "main.rs": "fn main() {\n    let total = 0;\n}\n" });
    return withPage(context, folder, "unrouted-language", async (page) => {
      await openFile(page, "main.rs", "fn main() {");
      const label = await waitForStatus(page, /off for rust|error|crashed|not found/, READY_TIMEOUT_MS);
      if (label !== "codegend ready, off for rust") {
        throw new Error(`expected the status to say completions are off for rust, got: ${label}`);
      }
      await page.screenshot({ path: join(ARTIFACTS, "e2e-unrouted-language.png") });
      return { result: "pass", detail: `status "${label}"` };
    });
  },
};

const noPython: Scenario = {
  name: "workspace-without-python",
  needsServer: true,
  run: (context) => {
    const folder = workspace(context.root, "no-python", serverSettings(context),
      { "NOTES.md": "# Notes\n\nNothing to complete here.\n" });
    return withPage(context, folder, "workspace-without-python", async (page) => {
      await openFile(page, "NOTES.md", "# Notes");
      // Nothing activates the extension here; the palette command does, and says where it stands.
      await runCommand(page, "codegend: Show Menu");
      await page.locator(".quick-input-list .monaco-list-row", { hasText: "Open config file" }).first().waitFor({ timeout: 30_000 });
      await page.keyboard.press("Escape");
      const label = await waitForStatus(page, /off for markdown|error|crashed|not found/, READY_TIMEOUT_MS);
      if (!label.includes("off for markdown")) {
        throw new Error(`expected the status to say completions are off for markdown, got: ${label}`);
      }
      await page.screenshot({ path: join(ARTIFACTS, "e2e-workspace-without-python.png") });
      return { result: "pass", detail: `menu shown; status "${label}"` };
    });
  },
};

/** Everything the extension's output channel wrote, across windows (VS Code's log files). */
function readChannelLogs(userDataDir: string): string {
  const texts: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(path);
      } else if (entry.name === "codegend.log") {
        texts.push(readFileSync(path, "utf8"));
      }
    }
  };
  walk(join(userDataDir, "logs"));
  return texts.join("\n");
}

function codegendCommand(): string {
  if (process.env.CODEGEND_COMMAND) {
    return process.env.CODEGEND_COMMAND;
  }
  const venv = join(REPO_DIR, ".venv", "bin", "codegend");
  if (existsSync(venv)) {
    return venv;
  }
  const onPath = (process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, "codegend")).find(existsSync);
  return onPath ?? "codegend";
}

/** Why `codegend lsp` cannot be used, or undefined when it can. */
function serverUnavailable(codegend: string): string | undefined {
  try {
    execFileSync(codegend, ["lsp", "--help"], { stdio: "pipe", timeout: 60_000 });
    return undefined;
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim().split("\n").pop();
    return `\`${codegend} lsp --help\` failed${stderr ? `: ${stderr}` : ` (${(err as Error).message})`}`;
  }
}

async function main(): Promise<number> {
  const entry = process.env.CODE_SERVER_ENTRY ?? "/tmp/code-server-cache/node_modules/code-server/out/node/entry.js";
  const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
  const vsix = join(EXTENSION_DIR, "codegend.vsix");
  for (const [what, path, hint] of [["code-server", entry, "run scripts/install-code-server.sh"],
    ["Chromium", chromiumPath, "apt-get install chromium"], ["the .vsix", vsix, "npm run package"]]) {
    if (!existsSync(path)) {
      console.error(`e2e: ${what} not found at ${path} (${hint})`);
      return 2;
    }
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  const codegend = codegendCommand();
  const unavailable = serverUnavailable(codegend);
  const root = mkdtempSync(join(tmpdir(), "codegend-e2e-"));
  const codeServer = new CodeServer({ entry, root, userSettings: USER_SETTINGS });
  let browser: Browser | undefined;
  let failures = 0;
  cleanup = async () => {
    await browser?.close().catch(() => undefined);
    await codeServer.stop();
  };
  try {
    codeServer.prepare();
    codeServer.installExtension(vsix);
    await codeServer.start();
    // Chromium's own profile and crash reports go under the root too, not the real home.
    browser = await chromium.launch({
      executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS,
      env: { ...process.env, XDG_CONFIG_HOME: join(root, "xdg", "config"), XDG_CACHE_HOME: join(root, "xdg", "cache") },
    });
    const context: Context = { browser, codeServer, root, codegend };
    const only = process.env.E2E_ONLY?.split(",");
    for (const scenario of [notFound, pythonWithoutCodegend, crashing, ghostTextScenario, badConfigPath, unroutedLanguage,
      noPython]) {
      if (only !== undefined && !only.includes(scenario.name)) {
        continue;
      }
      const started = Date.now();
      let outcome: Outcome;
      try {
        outcome = scenario.needsServer && unavailable !== undefined
          ? { result: "skip", detail: unavailable }
          : await scenario.run(context);
      } catch (err) {
        failures += 1;
        console.log(`FAIL ${scenario.name} (${((Date.now() - started) / 1000).toFixed(1)} s): ${(err as Error).message}`);
        continue;
      }
      console.log(`${outcome.result.toUpperCase()} ${scenario.name} (${((Date.now() - started) / 1000).toFixed(1)} s): ${outcome.detail}`);
    }
  } finally {
    await browser?.close().catch(() => undefined);
    await codeServer.stop();
    if (failures > 0 || process.env.E2E_KEEP_LOGS) {
      // The window logs hold the extension's output channel and the server's stderr.
      cpSync(join(codeServer.userDataDir, "logs"), join(ARTIFACTS, "vscode-logs"), { recursive: true, force: true });
      cpSync(codeServer.logFile, join(ARTIFACTS, "code-server.log"), { force: true });
    }
    rmSync(root, { recursive: true, force: true });
  }
  return failures > 0 ? 1 : 0;
}

// Killed from outside (CI timeout, Ctrl+C): still stop code-server and its language servers.
let cleanup: (() => Promise<void>) | undefined;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void (cleanup?.() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

main().then((code) => process.exit(code), (err) => {
  console.error(err);
  process.exit(1);
});
