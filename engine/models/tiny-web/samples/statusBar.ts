// The status bar item: holds the current Status and redraws it when the status, the settings
// or the active editor change.
import * as vscode from "vscode";
import { ExtensionSettings, isEnabledFor } from "./settings";
import { INITIAL_STATUS, Status, StatusEvent, languageState, nextStatus, renderStatus } from "./status";

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private current: Status = INITIAL_STATUS;

  constructor(private readonly settings: () => ExtensionSettings) {
    this.item = vscode.window.createStatusBarItem("codegend.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "codegend";
    this.item.command = "codegend.showMenu";
    this.redraw();
    this.item.show();
  }

  get status(): Status {
    return this.current;
  }

  apply(event: StatusEvent): void {
    this.current = nextStatus(this.current, event);
    this.redraw();
  }

  redraw(): void {
    const settings = this.settings();
    const languageId = vscode.window.activeTextEditor?.document.languageId;
    const view = renderStatus(this.current, {
      enabled: settings.enable,
      languageId,
      language: languageId === undefined
        ? "on"
        : languageState(this.current, languageId, isEnabledFor(settings, languageId)),
    });
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.accessibilityInformation = { label: view.accessibleLabel };
    this.item.backgroundColor = view.severity === "normal"
      ? undefined
      : new vscode.ThemeColor(view.severity === "error" ? "statusBarItem.errorBackground" : "statusBarItem.warningBackground");
  }

  dispose(): void {
    this.item.dispose();
  }
}
