// Opens the settings editor at one setting. In a remote window (SSH, WSL, code-server) the
// machine-scoped settings live in the Remote tab, so that is where the user must land.
import * as vscode from "vscode";

export async function openSetting(key: string): Promise<void> {
  const command = vscode.env.remoteName !== undefined
    ? "workbench.action.openRemoteSettings"
    : "workbench.action.openSettings";
  await vscode.commands.executeCommand(command, { query: key });
}
