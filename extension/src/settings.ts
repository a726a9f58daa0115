// Turns the user's `codegend.*` settings into the object the server reads, and answers
// "is codegend on for this language?". Pure: the VS Code configuration arrives as a getter.
// The keys match the server's converter (lsp/settings.py); keys only the extension uses
// (server.*, trace.server) are not sent.

export type MaxCompletion = "line" | "block" | "auto";

/** What the server receives as initializationOptions and as the `codegend` section. */
export interface ServerSettings {
  enable: boolean;
  disabledLanguages: string[];
  configPath: string | null;
  debounceMs: number;
  maxCompletion: MaxCompletion;
  /** A model name that overrides routing by language; null routes by language. */
  model: string | null;
}

/** Reads one setting; undefined when unset (VS Code's `WorkspaceConfiguration.get`). */
export type SettingGetter = (key: string) => unknown;

/** Where relative paths and `~` in settings point. */
export interface PathContext {
  home: string;
  workspaceFolder?: string;
}

export const DEFAULT_SETTINGS: Readonly<ServerSettings> = Object.freeze({
  enable: true,
  disabledLanguages: [],
  configPath: null,
  debounceMs: 75,
  maxCompletion: "auto",
  model: null,
});

const MAX_DEBOUNCE_MS = 2000;
const MAX_COMPLETIONS: readonly string[] = ["line", "block", "auto"];

export function readServerSettings(get: SettingGetter, paths: PathContext): ServerSettings {
  const enable = get("enable");
  const maxCompletion = get("maxCompletion");
  const model = get("model");
  return {
    enable: typeof enable === "boolean" ? enable : DEFAULT_SETTINGS.enable,
    disabledLanguages: readLanguageList(get("disabledLanguages")),
    configPath: expandPath(get("configPath"), paths),
    debounceMs: readDebounce(get("debounceMs")),
    maxCompletion: typeof maxCompletion === "string" && MAX_COMPLETIONS.includes(maxCompletion)
      ? (maxCompletion as MaxCompletion)
      : DEFAULT_SETTINGS.maxCompletion,
    model: typeof model === "string" && model.trim() !== "" ? model.trim() : null,
  };
}

/** True when completions should be offered in a document of this language. */
export function isEnabledFor(settings: ServerSettings, languageId: string): boolean {
  return settings.enable && !settings.disabledLanguages.includes(languageId);
}

function readLanguageList(value: unknown): string[] {
  if (!Array.isArray(value)) {
    return [...DEFAULT_SETTINGS.disabledLanguages];
  }
  const languages = value.filter((item): item is string => typeof item === "string" && item.trim() !== "");
  return [...new Set(languages.map((language) => language.trim()))];
}

function readDebounce(value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    return DEFAULT_SETTINGS.debounceMs;
  }
  return Math.min(MAX_DEBOUNCE_MS, Math.max(0, Math.round(value)));
}

/**
 * Expands `~` and `${workspaceFolder}`, and makes a relative path relative to the workspace
 * (the server's working directory is not something the user can see). Empty means unset.
 */
export function expandPath(value: unknown, paths: PathContext): string | null {
  if (typeof value !== "string" || value.trim() === "") {
    return null;
  }
  let path = value.trim();
  if (path.includes("${workspaceFolder}")) {
    if (paths.workspaceFolder === undefined) {
      return path; // left as written; the server's error will name it
    }
    path = path.split("${workspaceFolder}").join(paths.workspaceFolder);
  }
  if (path === "~" || path.startsWith("~/")) {
    path = paths.home + path.slice(1);
  }
  if (!isAbsolute(path) && paths.workspaceFolder !== undefined) {
    path = `${paths.workspaceFolder}/${path}`;
  }
  return path;
}

export interface ConfigDirs {
  platform: NodeJS.Platform;
  home: string;
  /** XDG_CONFIG_HOME on Linux, APPDATA on Windows, when set. */
  configHome?: string;
}

/** Where the daemon looks when no config path is set (platformdirs' user_config_dir). */
export function defaultConfigPath(dirs: ConfigDirs): string {
  if (dirs.platform === "win32") {
    return `${dirs.configHome ?? `${dirs.home}\\AppData\\Local`}\\codegend\\codegend\\config.yaml`;
  }
  if (dirs.platform === "darwin") {
    return `${dirs.home}/Library/Application Support/codegend/config.yaml`;
  }
  const base = dirs.configHome !== undefined && isAbsolute(dirs.configHome) ? dirs.configHome : `${dirs.home}/.config`;
  return `${base}/codegend/config.yaml`;
}

/** Setting keys whose change needs a new server process rather than a notification. */
export const RESTART_KEYS: readonly string[] = ["server.command", "server.args"];

function isAbsolute(path: string): boolean {
  return path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path) || path.startsWith("\\\\");
}
