// The user's `codegend.*` settings, passed to the server as they are. The server's converter
// (lsp/settings.py) is the one place they are checked: it warns about a value it cannot use
// and uses its default instead, so nothing is clamped or replaced silently here. The
// extension only resolves configPath (`~`, `${workspaceFolder}`, relative paths), which the
// server cannot know, and reads the few settings its own status bar and commands act on by
// the server's rule: a value of the wrong type counts as the default.

/** The keys of the `codegend` section the server reads; the others (server.*,
 * trace.server) are the extension's own. */
export const SERVER_KEYS: readonly string[] = [
  "enable", "disabledLanguages", "configPath", "debounceMs", "maxCompletion", "model",
  "prefetch",
];

/** What the server receives as initializationOptions and as the `codegend` section. */
export type ServerSettings = Record<string, unknown>;

/** The settings the extension itself acts on (status bar, toggle, config file, model pick). */
export interface ExtensionSettings {
  enable: boolean;
  disabledLanguages: string[];
  configPath: string | null;
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

/** The server's defaults, for the extension's own reading of a value it cannot use. */
export const DEFAULT_SETTINGS: Readonly<ExtensionSettings> = Object.freeze({
  enable: true,
  disabledLanguages: [],
  configPath: null,
  model: null,
});

/** The user's values as VS Code holds them, configPath resolved; unset keys are left out. */
export function serverSettings(get: SettingGetter, paths: PathContext): ServerSettings {
  const settings: ServerSettings = {};
  for (const key of SERVER_KEYS) {
    const value = get(key);
    if (value !== undefined) {
      // A configPath that is not a string goes as it is: the server names it in a warning.
      settings[key] = key === "configPath" && typeof value === "string" ? expandPath(value, paths) : value;
    }
  }
  return settings;
}

export function readExtensionSettings(get: SettingGetter, paths: PathContext): ExtensionSettings {
  const sent = serverSettings(get, paths);
  const { enable, disabledLanguages, configPath, model } = sent;
  return {
    enable: typeof enable === "boolean" ? enable : DEFAULT_SETTINGS.enable,
    disabledLanguages: isStringList(disabledLanguages)
      ? disabledLanguages.map((language) => language.trim()).filter((language) => language !== "")
      : [...DEFAULT_SETTINGS.disabledLanguages],
    configPath: typeof configPath === "string" ? configPath : DEFAULT_SETTINGS.configPath,
    model: typeof model === "string" && model.trim() !== "" ? model.trim() : DEFAULT_SETTINGS.model,
  };
}

/** True when completions should be offered in a document of this language. */
export function isEnabledFor(settings: ExtensionSettings, languageId: string): boolean {
  return settings.enable && !settings.disabledLanguages.includes(languageId);
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
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
