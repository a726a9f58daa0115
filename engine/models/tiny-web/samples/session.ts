// One running `codegend lsp` and its language client: start, stop, restart within a budget,
// settings pushed on change, and every lifecycle step reported as a StatusEvent.
import * as fs from "fs";
import * as os from "os";
import { createInterface } from "readline";
import { Readable } from "stream";
import * as vscode from "vscode";
import {
  CloseAction, DidChangeConfigurationNotification, DynamicFeature, ErrorAction, LanguageClient,
  LanguageClientOptions, ServerOptions, State, StaticFeature,
} from "vscode-languageclient/node";
import { isLeftOut } from "./clientFeatures";
import { SERVED_LANGUAGES } from "./languages";
import { SETTINGS_SECTION, STATUS_NOTIFICATION, parseStatusParams } from "./protocol";
import { openSetting } from "./openSetting";
import { RestartBudget, restartDelayMs } from "./restartBudget";
import { resolveServerCommand } from "./serverCommand";
import {
  ExtensionSettings, PathContext, ServerSettings, SettingGetter, isEnabledFor, readExtensionSettings, serverSettings,
} from "./settings";
import { ExitExplanation, OutputTail, explainServerExit } from "./serverExit";
import { ServerLogClassifier } from "./serverLog";
import { StatusEvent } from "./status";
import { TraceChannel } from "./traceChannel";

const MAX_RESTARTS = 4;
const RESTART_WINDOW_MS = 3 * 60 * 1000;
// A server that never sends codegend/status is treated as ready after this long.
const STATUS_GRACE_MS = 3000;

/** The library's own error pop-ups are generic; the session reports failures itself. */
class QuietLanguageClient extends LanguageClient {
  override error(message: string, data?: unknown): void {
    super.error(message, data, false);
  }

  // Called from the base constructor for each standard feature (see clientFeatures).
  override registerFeature(feature: StaticFeature | DynamicFeature<unknown>): void {
    if (!isLeftOut(feature)) {
      super.registerFeature(feature);
    }
  }
}

// How long an ended server may take to finish writing its stderr (the cause of the end).
const STDERR_SETTLE_MS = 500;

export class ServerSession implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly budget = new RestartBudget(MAX_RESTARTS, RESTART_WINDOW_MS);
  private statusSeen = false;
  private graceTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;

  private readonly trace: TraceChannel;

  constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly report: (event: StatusEvent) => void,
  ) {
    this.trace = new TraceChannel(output, `${SETTINGS_SECTION}.trace.server`);
  }

  get running(): LanguageClient | undefined {
    return this.client?.isRunning() ? this.client : undefined;
  }

  /** The settings the extension acts on itself (the server reads its own from what is sent). */
  settings(): ExtensionSettings {
    return readExtensionSettings(...this.settingSource());
  }

  /** What the server is sent: the user's values, only configPath resolved. */
  private serverSettings(): ServerSettings {
    return serverSettings(...this.settingSource());
  }

  private settingSource(): [SettingGetter, PathContext] {
    const config = vscode.workspace.getConfiguration(SETTINGS_SECTION);
    return [(key) => config.get(key), {
      home: os.homedir(),
      workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    }];
  }

  async start(): Promise<void> {
    const config = vscode.workspace.getConfiguration(SETTINGS_SECTION);
    const resolution = resolveServerCommand(config.get("server.command"), config.get("server.args"), {
      path: process.env.PATH ?? "",
      platform: process.platform,
      home: os.homedir(),
      isExecutable: isExecutableFile,
    });
    if (!resolution.ok) {
      this.output.error(resolution.message);
      this.report({ kind: "notFound", message: resolution.message });
      // Not awaited: the notification stays until the user acts, and nothing waits for that.
      void vscode.window.showErrorMessage(resolution.message, "Open Setting").then(async (choice) => {
        if (choice === "Open Setting") {
          await openSetting("codegend.server.command");
        }
      });
      return;
    }
    this.output.info(`starting the server: ${resolution.description}`);
    const serverOptions: ServerOptions = {
      command: resolution.server.command,
      args: resolution.server.args,
      // No `transport`: stdio is the default, and naming it would append `--stdio` to the args.
    };
    // Every start is a fresh client; the session, not the library, decides about restarts.
    let ended = false;
    const stderr = new OutputTail();
    const end = (reason: string) => {
      if (!ended && this.client === client) {
        ended = true;
        // The pipe breaks before the last stderr lines (the cause) are read: wait for them.
        setTimeout(() => {
          if (this.client === client) {
            this.clientEnded(reason, explainServerExit(stderr.all, resolution.server.command));
          }
        }, STDERR_SETTLE_MS);
      }
    };
    const client = new QuietLanguageClient("codegend", "codegend", serverOptions,
      this.clientOptions(end, stderr));
    client.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
      const parsed = parseStatusParams(params);
      if (parsed === undefined) {
        this.output.warn(`ignoring a malformed ${STATUS_NOTIFICATION}: ${JSON.stringify(params)}`);
        return;
      }
      this.statusSeen = true;
      this.report({ kind: "server", params: parsed });
    });
    client.onDidChangeState(({ newState }) => {
      if (newState === State.Starting) {
        this.statusSeen = false;
        this.report({ kind: "starting" });
      } else if (newState === State.Running) {
        this.armGraceTimer();
      }
    });
    this.client = client;
    try {
      await client.start();
    } catch (err) {
      end(`it did not start: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async stop(): Promise<void> {
    this.clearGraceTimer();
    if (this.restartTimer !== undefined) {
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
    }
    const client = this.client;
    this.client = undefined;
    if (client !== undefined && client.needsStop()) {
      await client.stop(5000).catch((err) => this.output.warn(`stopping the server: ${String(err)}`));
    }
  }

  /** A restart the user asked for: a fresh process and a fresh crash budget. */
  async restart(): Promise<void> {
    this.budget.reset();
    await this.stop();
    this.report({ kind: "starting", message: "Restarted on request." });
    await this.start();
  }

  /** Pushes the current settings; the server applies them without a restart. */
  async pushSettings(): Promise<void> {
    const client = this.running;
    if (client !== undefined) {
      await client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: { [SETTINGS_SECTION]: this.serverSettings() },
      });
    }
  }

  dispose(): void {
    void this.stop().finally(() => this.trace.dispose());
  }

  private clientOptions(end: (reason: string) => void, stderr: OutputTail): LanguageClientOptions {
    return {
      documentSelector: SERVED_LANGUAGES.flatMap((language) => [
        { scheme: "file", language },
        { scheme: "untitled", language },
      ]),
      outputChannel: this.output,
      traceOutputChannel: this.trace,
      stdioOptions: {
        stdout: (input, output) => pipeServerLog(input, output),
        stderr: (input, output) => pipeServerLog(input, output, stderr),
      },
      initializationOptions: this.serverSettings(),
      errorHandler: {
        error: (_error, _message, count) => ({
          action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown,
          handled: true,
        }),
        closed: () => {
          end("the server process exited");
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
      // The library would pop up the raw error ("write EPIPE"); the session reports it instead.
      initializationFailedHandler: (error) => {
        this.output.error(`initialize failed: ${error instanceof Error ? error.message : String(error)}`);
        return false;
      },
      middleware: {
        // Asked for by the server: the same values it is sent, so configPath arrives resolved
        // (VS Code's own answer has `~` and `${workspaceFolder}` unexpanded) and every other
        // value exactly as the user wrote it, for the server to check and warn about.
        workspace: {
          configuration: async (params, token, next) => {
            const values = await next(params, token);
            if (!Array.isArray(values)) {
              return values;
            }
            return values.map((value, index) =>
              params.items[index]?.section === SETTINGS_SECTION ? this.serverSettings() : value);
          },
        },
        // A language switched off never costs the server a request.
        provideInlineCompletionItems: (document, position, context, token, next) =>
          isEnabledFor(this.settings(), document.languageId) ? next(document, position, context, token) : null,
      },
    };
  }

  /** The running client is gone: restart after a pause while the budget lasts, else give up;
   * a cause that a restart cannot fix (a Python without codegend) is named at once instead. */
  private clientEnded(reason: string, explanation?: ExitExplanation): void {
    this.clearGraceTimer();
    if (explanation?.permanent) {
      this.output.error(explanation.message);
      this.report({ kind: "notFound", message: explanation.message });
      void vscode.window.showErrorMessage(explanation.message, "Open Setting").then(async (choice) => {
        if (choice === "Open Setting") {
          await openSetting("codegend.server.command");
        }
      });
      return;
    }
    if (explanation !== undefined) {
      reason = `${reason}; its last output: ${explanation.message}`;
    }
    const decision = this.budget.recordCrash(Date.now());
    if (decision.restart) {
      const delay = restartDelayMs(decision.crashes);
      const message = `The server stopped (${reason}); restart ${decision.crashes} of ${MAX_RESTARTS} ` +
        `in ${delay / 1000} s.`;
      this.output.warn(message);
      this.report({ kind: "starting", message });
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        void this.start();
      }, delay);
      return;
    }
    const message = `The codegend server stopped ${decision.crashes} times in ${RESTART_WINDOW_MS / 60000} ` +
      `minutes and will not be restarted (last: ${reason}). Its log is in the output channel.`;
    this.output.error(message);
    this.report({ kind: "crashed", message });
    void this.offerRecovery(message);
  }

  private async offerRecovery(message: string): Promise<void> {
    const choice = await vscode.window.showErrorMessage(message, "Show Output", "Restart");
    if (choice === "Show Output") {
      this.output.show();
    } else if (choice === "Restart") {
      await this.restart();
    }
  }

  private armGraceTimer(): void {
    this.clearGraceTimer();
    this.graceTimer = setTimeout(() => {
      if (!this.statusSeen && this.client?.isRunning()) {
        this.report({ kind: "server", params: { state: "ready" } });
      }
    }, STATUS_GRACE_MS);
  }

  private clearGraceTimer(): void {
    if (this.graceTimer !== undefined) {
      clearTimeout(this.graceTimer);
      this.graceTimer = undefined;
    }
  }
}

/** The server's output, line by line, at the level each line reads as; stderr's last lines
 * are kept in `tail` (they say why a server that ends ended). */
function pipeServerLog(input: Readable, output: vscode.LogOutputChannel, tail?: OutputTail): void {
  const classifier = new ServerLogClassifier();
  createInterface({ input, crlfDelay: Infinity, terminal: false }).on("line", (line: string) => {
    tail?.push(line);
    output[classifier.level(line)](line);
  });
}

function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
