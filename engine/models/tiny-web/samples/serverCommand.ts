// Decides which process to start for the language server from `codegend.server.command`
// and `codegend.server.args`. Pure: the file system arrives as a predicate, so the rules
// are unit-tested without spawning anything.

export interface ServerCommand {
  command: string;
  args: string[];
}

export type Resolution =
  | { ok: true; server: ServerCommand; description: string }
  | { ok: false; message: string };

export interface ResolveEnvironment {
  /** The PATH variable of the extension host. */
  path: string;
  platform: NodeJS.Platform;
  /** True when `file` exists and can be executed. */
  isExecutable: (file: string) => boolean;
  /** The user's home directory, for a command written as `~/...`. */
  home?: string;
}

export const DEFAULT_COMMAND = "codegend";
export const DEFAULT_ARGS: readonly string[] = ["lsp"];

// python, python3, python3.12, pythonw.exe, and the same under a venv's bin/ or Scripts/.
const PYTHON_NAME = /^python(\d+(\.\d+)*)?w?(\.exe)?$/i;

export function isPythonInterpreter(command: string): boolean {
  return PYTHON_NAME.test(baseName(command));
}

export function resolveServerCommand(
  commandSetting: unknown,
  argsSetting: unknown,
  env: ResolveEnvironment,
): Resolution {
  const command = typeof commandSetting === "string" && commandSetting.trim() !== ""
    ? expandHome(commandSetting.trim(), env.home)
    : DEFAULT_COMMAND;
  const args = Array.isArray(argsSetting) && argsSetting.every((arg) => typeof arg === "string")
    ? (argsSetting as string[])
    : [...DEFAULT_ARGS];

  const executable = findExecutable(command, env);
  if (executable === undefined) {
    return { ok: false, message: notFoundMessage(command) };
  }
  if (isPythonInterpreter(command)) {
    return {
      ok: true,
      server: { command: executable, args: ["-m", "codegend", ...args] },
      description: `${executable} -m codegend ${args.join(" ")}`,
    };
  }
  return { ok: true, server: { command: executable, args }, description: `${executable} ${args.join(" ")}` };
}

/** A path (anything with a separator) is checked as is; a bare name is looked up on PATH. */
export function findExecutable(command: string, env: ResolveEnvironment): string | undefined {
  const windows = env.platform === "win32";
  const extensions = windows ? ["", ".exe", ".cmd", ".bat"] : [""];
  if (command.includes("/") || (windows && command.includes("\\"))) {
    return extensions.map((ext) => command + ext).find(env.isExecutable);
  }
  const separator = windows ? ";" : ":";
  for (const dir of env.path.split(separator)) {
    if (dir === "") {
      continue;
    }
    const joined = `${dir.replace(/[\\/]+$/, "")}${windows ? "\\" : "/"}${command}`;
    const found = extensions.map((ext) => joined + ext).find(env.isExecutable);
    if (found !== undefined) {
      return found;
    }
  }
  return undefined;
}

function notFoundMessage(command: string): string {
  const where = command.includes("/") || command.includes("\\") ? `at ${command}` : `on PATH`;
  return `codegend: the server command "${command}" was not found ${where}. ` +
    `Install codegend into a Python environment, then set "codegend.server.command" to its codegend ` +
    `executable or its Python interpreter (or put codegend on PATH).`;
}

function expandHome(command: string, home: string | undefined): string {
  if (home !== undefined && (command === "~" || command.startsWith("~/"))) {
    return home + command.slice(1);
  }
  return command;
}

function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] ?? path;
}
