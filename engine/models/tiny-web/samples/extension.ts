// Entry point: an output channel, a status bar item, the commands, and one language client
// running `codegend lsp`. Everything with rules in it lives in the small modules beside it.
import * as vscode from "vscode";
import { registerCommands } from "./commands";
import { SETTINGS_SECTION } from "./protocol";
import { ServerSession } from "./session";
import { RESTART_KEYS } from "./settings";
import { StatusBar } from "./statusBar";

let session: ServerSession | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel("codegend", { log: true });
  let statusBar: StatusBar | undefined;
  const current = new ServerSession(output, (event) => statusBar?.apply(event));
  statusBar = new StatusBar(() => current.settings());
  session = current;

  context.subscriptions.push(
    output,
    statusBar,
    current,
    ...registerCommands(current, statusBar, output),
    vscode.window.onDidChangeActiveTextEditor(() => statusBar?.redraw()),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (!event.affectsConfiguration(SETTINGS_SECTION)) {
        return;
      }
      statusBar?.redraw();
      if (RESTART_KEYS.some((key) => event.affectsConfiguration(`${SETTINGS_SECTION}.${key}`))) {
        await current.restart();
      } else {
        await current.pushSettings();
      }
    }),
  );
  void current.start(); // the status bar follows its progress; activation need not wait
}

export async function deactivate(): Promise<void> {
  await session?.stop();
  session = undefined;
}
