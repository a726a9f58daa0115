// A private code-server for one test run: its own config, user data, extensions and XDG
// directories under one temporary root, started in its own process group so that stopping
// it also stops every extension host and language server it spawned.
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

export interface CodeServerOptions {
  entry: string;        // code-server's out/node/entry.js
  root: string;         // a fresh directory for everything this instance writes
  userSettings: Record<string, unknown>;
}

export class CodeServer {
  private process: ChildProcess | undefined;
  port = 0;

  constructor(private readonly options: CodeServerOptions) {}

  private get dirs() {
    const root = this.options.root;
    return {
      userData: join(root, "user-data"),
      extensions: join(root, "extensions"),
      xdg: join(root, "xdg"),
      config: join(root, "code-server.yaml"),
      log: join(root, "code-server.log"),
    };
  }

  /** Env for code-server: XDG dirs point into the root, so nothing lands in the real home. */
  private env(): NodeJS.ProcessEnv {
    const xdg = this.dirs.xdg;
    return {
      ...process.env,
      XDG_CONFIG_HOME: join(xdg, "config"),
      XDG_DATA_HOME: join(xdg, "data"),
      XDG_STATE_HOME: join(xdg, "state"),
    };
  }

  private baseArgs(): string[] {
    const dirs = this.dirs;
    return [this.options.entry, "--config", dirs.config, "--user-data-dir", dirs.userData,
      "--extensions-dir", dirs.extensions];
  }

  prepare(): void {
    const dirs = this.dirs;
    mkdirSync(join(dirs.userData, "User"), { recursive: true });
    mkdirSync(dirs.extensions, { recursive: true });
    writeFileSync(dirs.config, "auth: none\ncert: false\n");
    writeFileSync(join(dirs.userData, "User", "settings.json"), JSON.stringify(this.options.userSettings, null, 2));
  }

  installExtension(vsix: string): string {
    return execFileSync(process.execPath, [...this.baseArgs(), "--install-extension", vsix, "--force"], {
      env: this.env(), encoding: "utf8", timeout: 120_000,
    });
  }

  async start(): Promise<void> {
    this.port = await freePort();
    const log = openSync(this.dirs.log, "a");
    this.process = spawn(process.execPath, [
      ...this.baseArgs(), "--bind-addr", `127.0.0.1:${this.port}`, "--disable-telemetry",
      "--disable-update-check", "--disable-workspace-trust", "--disable-getting-started-override",
      "--ignore-last-opened",
    ], { env: this.env(), detached: true, stdio: ["ignore", log, log] });
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (this.process.exitCode !== null) {
        throw new Error(`code-server exited with ${this.process.exitCode}; see ${this.dirs.log}`);
      }
      try {
        const response = await fetch(`http://127.0.0.1:${this.port}/healthz`);
        if (response.ok) {
          return;
        }
      } catch {
        // not listening yet
      }
      await sleep(250);
    }
    throw new Error(`code-server did not answer /healthz within 60 s; see ${this.dirs.log}`);
  }

  url(folder: string): string {
    return `http://127.0.0.1:${this.port}/?folder=${encodeURIComponent(folder)}`;
  }

  get userDataDir(): string {
    return this.dirs.userData;
  }

  get logFile(): string {
    return this.dirs.log;
  }

  /** SIGTERM to the whole process group, SIGKILL to whatever is left after a few seconds. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (child?.pid === undefined) {
      return;
    }
    signalGroup(child.pid, "SIGTERM");
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && groupAlive(child.pid)) {
      await sleep(200);
    }
    signalGroup(child.pid, "SIGKILL");
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
