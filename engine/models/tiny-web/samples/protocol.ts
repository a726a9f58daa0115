// The custom parts of the protocol between this extension and `codegend lsp`. Everything
// else is standard LSP (inline completion, executeCommand, configuration).

/** Notification, server → client: what the server is doing right now. */
export const STATUS_NOTIFICATION = "codegend/status";
/** Request, client → server: counters kept by the server (completions shown, accepted...). */
export const STATS_REQUEST = "codegend/stats";
/** Request, client → server: the models the server can serve and the active one. */
export const MODELS_REQUEST = "codegend/models";
/** Request, client → server: `{model: name}` overrides routing by language; `null` routes again. */
export const SELECT_MODEL_REQUEST = "codegend/selectModel";
/** The command the server puts on each inline completion item; VS Code runs it on accept. */
export const ACCEPT_COMMAND = "codegend.accept";
/** The settings section the server reads (initializationOptions and workspace/configuration). */
export const SETTINGS_SECTION = "codegend";

export type ServerState = "loading" | "ready" | "failed" | "disabled";

export interface StatusParams {
  state: ServerState;
  model?: string;
  message?: string;
  /** The languages the daemon's routes serve; absent (null on the wire): every language. */
  languages?: string[];
}

export interface ModelInfo {
  name: string;
  state?: string;
}

export interface ModelsResult {
  models: ModelInfo[];
  active?: string;
}

const SERVER_STATES: ReadonlySet<string> = new Set(["loading", "ready", "failed", "disabled"]);

/** Checks a `codegend/status` payload; a malformed one becomes undefined instead of a crash. */
export function parseStatusParams(value: unknown): StatusParams | undefined {
  if (typeof value !== "object" || value === null) {
    return undefined;
  }
  const record = value as Record<string, unknown>;
  if (typeof record.state !== "string" || !SERVER_STATES.has(record.state)) {
    return undefined;
  }
  const languages = Array.isArray(record.languages)
    ? record.languages.filter((language): language is string => typeof language === "string")
    : undefined;
  return {
    state: record.state as ServerState,
    model: typeof record.model === "string" && record.model !== "" ? record.model : undefined,
    message: typeof record.message === "string" && record.message !== "" ? record.message : undefined,
    ...(languages !== undefined ? { languages } : {}),
  };
}

/** Checks a `codegend/models` answer; names must be non-empty strings. */
export function parseModelsResult(value: unknown): ModelsResult {
  if (typeof value !== "object" || value === null || !Array.isArray((value as ModelsResult).models)) {
    throw new Error("the server's codegend/models answer has no `models` list");
  }
  const record = value as { models: unknown[]; active?: unknown };
  const models: ModelInfo[] = [];
  for (const entry of record.models) {
    if (typeof entry === "object" && entry !== null && typeof (entry as ModelInfo).name === "string") {
      const { name, state } = entry as ModelInfo;
      if (name !== "") {
        models.push({ name, state: typeof state === "string" ? state : undefined });
      }
    }
  }
  return { models, active: typeof record.active === "string" ? record.active : undefined };
}
