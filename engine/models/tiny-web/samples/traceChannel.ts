// `codegend.trace.server` for vscode-languageclient 10, which traces only into a channel whose
// log level is Trace. This adapter reports Trace while the setting is on and writes the trace
// lines into the extension's one output channel, so the setting alone is enough.
import * as vscode from "vscode";

export class TraceChannel implements vscode.LogOutputChannel {
  private readonly levelChanged = new vscode.EventEmitter<vscode.LogLevel>();
  readonly onDidChangeLogLevel = this.levelChanged.event;
  private level: vscode.LogLevel;
  private readonly listener: vscode.Disposable;

  constructor(private readonly output: vscode.LogOutputChannel, private readonly settingKey: string) {
    this.level = this.readLevel();
    this.listener = vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(settingKey) && this.readLevel() !== this.level) {
        this.level = this.readLevel();
        this.levelChanged.fire(this.level);
      }
    });
  }

  get name(): string {
    return this.output.name;
  }

  get logLevel(): vscode.LogLevel {
    return this.level;
  }

  private readLevel(): vscode.LogLevel {
    const value = vscode.workspace.getConfiguration().get<string>(this.settingKey, "off");
    return value === "messages" || value === "verbose" ? vscode.LogLevel.Trace : vscode.LogLevel.Off;
  }

  trace(message: string, ...args: unknown[]): void {
    if (this.level === vscode.LogLevel.Trace) {
      this.output.appendLine([message, ...args.map((arg) => JSON.stringify(arg))].join(" "));
    }
  }

  debug(message: string, ...args: unknown[]): void {
    this.output.debug(message, ...args);
  }

  info(message: string, ...args: unknown[]): void {
    this.output.info(message, ...args);
  }

  warn(message: string, ...args: unknown[]): void {
    this.output.warn(message, ...args);
  }

  error(error: string | Error, ...args: unknown[]): void {
    this.output.error(error, ...args);
  }

  append(value: string): void {
    this.output.append(value);
  }

  appendLine(value: string): void {
    this.output.appendLine(value);
  }

  replace(value: string): void {
    this.output.replace(value);
  }

  clear(): void {
    this.output.clear();
  }

  show(column?: vscode.ViewColumn | boolean, preserveFocus?: boolean): void {
    if (typeof column === "boolean") {
      this.output.show(column);
    } else {
      this.output.show(column, preserveFocus);
    }
  }

  hide(): void {
    this.output.hide();
  }

  dispose(): void {
    this.listener.dispose();
    this.levelChanged.dispose();
  }
}
