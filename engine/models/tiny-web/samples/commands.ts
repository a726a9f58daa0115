// The palette commands and the status bar menu. Each command is a few lines that call the
// session, the settings or a pure helper; failures become messages with a way forward.
import * as fs from "fs";
import * as os from "os";
import * as vscode from "vscode";
import { MODELS_REQUEST, SELECT_MODEL_REQUEST, SETTINGS_SECTION, STATS_REQUEST, parseModelsResult } from "./protocol";
import { openSetting } from "./openSetting";
import { ServerSession } from "./session";
import { defaultConfigPath } from "./settings";
import { formatStats } from "./stats";
import { StatusBar } from "./statusBar";
import { menuItems, modelPickItems } from "./menu";

export function registerCommands(
  session: ServerSession,
  statusBar: StatusBar,
  output: vscode.LogOutputChannel,
): vscode.Disposable[] {
  const setEnabled = (enabled: boolean) =>
    vscode.workspace.getConfiguration(SETTINGS_SECTION).update("enable", enabled, vscode.ConfigurationTarget.Global);
  const handlers: Record<string, () => unknown> = {
    "codegend.enable": () => setEnabled(true),
    "codegend.disable": () => setEnabled(false),
    "codegend.toggle": () => setEnabled(!session.settings().enable),
    "codegend.restartServer": () => session.restart(),
    "codegend.showOutput": () => output.show(),
    "codegend.openConfig": () => openConfig(session),
    "codegend.selectModel": () => selectModel(session),
    "codegend.showStats": () => showStats(session, output),
    "codegend.openServerSetting": () => openSetting("codegend.server.command"),
    "codegend.showMenu": async () => {
      const settings = session.settings();
      const picked = await vscode.window.showQuickPick(
        menuItems(statusBar.status, settings.enable, configPathOf(session)),
        { title: "codegend", placeHolder: statusBar.status.message ?? "Choose an action" },
      );
      if (picked !== undefined) {
        await vscode.commands.executeCommand(picked.command);
      }
    },
  };
  return Object.entries(handlers).map(([id, handler]) => vscode.commands.registerCommand(id, handler));
}

function configPathOf(session: ServerSession): string {
  return session.settings().configPath ?? defaultConfigPath({
    platform: process.platform,
    home: os.homedir(),
    configHome: process.platform === "win32" ? process.env.LOCALAPPDATA : process.env.XDG_CONFIG_HOME,
  });
}

async function openConfig(session: ServerSession): Promise<void> {
  const path = configPathOf(session);
  if (fs.existsSync(path)) {
    await vscode.window.showTextDocument(vscode.Uri.file(path));
    return;
  }
  const configured = session.settings().configPath !== null;
  const message = configured
    ? `codegend: the config file ${path} (setting codegend.configPath) does not exist.`
    : `codegend: no config file at ${path}; codegend uses its built-in default model for every language.`;
  const choice = await vscode.window.showWarningMessage(message, "Set codegend.configPath");
  if (choice !== undefined) {
    await openSetting("codegend.configPath");
  }
}

async function selectModel(session: ServerSession): Promise<void> {
  const client = session.running;
  if (client === undefined) {
    void vscode.window.showWarningMessage("codegend: the server is not running; restart it first.", "Restart Server")
      .then(async (choice) => {
        if (choice !== undefined) {
          await session.restart();
        }
      });
    return;
  }
  let result;
  try {
    result = parseModelsResult(await client.sendRequest(MODELS_REQUEST, {}));
  } catch (err) {
    void vscode.window.showErrorMessage(`codegend: cannot list the models (${errorText(err)}).`, "Open Config File")
      .then(async (choice) => {
        if (choice !== undefined) {
          await openConfig(session);
        }
      });
    return;
  }
  const picked = await vscode.window.showQuickPick(modelPickItems(result, session.settings().model), {
    title: "codegend: model for completions",
  });
  if (picked === undefined) {
    return;
  }
  try {
    // The server checks the name and switches at once (its status follows)...
    await client.sendRequest(SELECT_MODEL_REQUEST, { model: picked.model });
  } catch (err) {
    void vscode.window.showErrorMessage(`codegend: cannot switch to ${picked.model ?? "routing by language"} (${errorText(err)}).`);
    return;
  }
  // ...and the setting keeps the choice for the next start.
  await vscode.workspace.getConfiguration(SETTINGS_SECTION)
    .update("model", picked.model ?? "", vscode.ConfigurationTarget.Global);
}

async function showStats(session: ServerSession, output: vscode.LogOutputChannel): Promise<void> {
  const client = session.running;
  if (client === undefined) {
    void vscode.window.showWarningMessage("codegend: the server is not running.");
    return;
  }
  try {
    const stats: unknown = await client.sendRequest(STATS_REQUEST, {});
    output.info(`statistics: ${JSON.stringify(stats)}`);
    void vscode.window.showInformationMessage(`codegend: ${formatStats(stats)}`);
  } catch (err) {
    void vscode.window.showErrorMessage(`codegend: cannot read statistics (${errorText(err)}).`);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
