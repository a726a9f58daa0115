// What the status bar item says. A small state machine fed by the client's lifecycle and the
// server's `codegend/status` notification, and a pure renderer. Every state either says what
// codegend is doing or says what went wrong; none is left spinning without a cause.
import { SERVED_LANGUAGES } from "./languages";
import { StatusParams } from "./protocol";

export type Phase =
  | "starting"    // the server process is being started (or restarted after a crash)
  | "loading"     // the server is loading or building the model
  | "ready"       // completions are served
  | "disabled"    // the server says it is disabled (e.g. by its own config)
  | "failed"      // the server runs but cannot serve (bad config, model failed to load)
  | "notFound"    // the server command does not exist
  | "crashed"     // the server kept exiting; restarts were given up
  | "stopped";    // the client was stopped on purpose

export interface Status {
  phase: Phase;
  model?: string;
  message?: string;
  /** The languages the daemon routes to a model, as the server last said; absent: all. */
  languages?: readonly string[];
}

export type StatusEvent =
  | { kind: "starting"; message?: string }
  | { kind: "server"; params: StatusParams }
  | { kind: "notFound"; message: string }
  | { kind: "startFailed"; message: string }
  | { kind: "crashed"; message: string }
  | { kind: "stopped" };

export const INITIAL_STATUS: Status = Object.freeze({ phase: "starting" });

export function nextStatus(previous: Status, event: StatusEvent): Status {
  switch (event.kind) {
    case "starting":
      return { phase: "starting", model: previous.model, message: event.message };
    case "server": {
      const { state, model, message, languages } = event.params;
      return { phase: state, model: model ?? previous.model, message, ...(languages !== undefined ? { languages } : {}) };
    }
    case "notFound":
      return { phase: "notFound", message: event.message };
    case "startFailed":
      return { phase: "failed", model: previous.model, message: event.message };
    case "crashed":
      return { phase: "crashed", model: previous.model, message: event.message };
    case "stopped":
      return { phase: "stopped", model: previous.model };
  }
}

/** Whether the active editor's language gets completions, and if not, why. */
export type LanguageState = "on" | "disabled" | "unserved" | "unrouted";

/** The user's setting first, then the languages this extension serves, then the daemon's
 * routes: a language no route names gets no model (the built-in config routes only Python
 * and the web languages), which is a choice to explain, not an error. */
export function languageState(status: Status, languageId: string, enabledBySettings: boolean): LanguageState {
  if (!enabledBySettings) {
    return "disabled";
  }
  if (!SERVED_LANGUAGES.includes(languageId)) {
    return "unserved";
  }
  return status.languages === undefined || status.languages.includes(languageId) ? "on" : "unrouted";
}

/** Where the user is: the global switch and the language of the active editor. */
export interface StatusContext {
  enabled: boolean;
  languageId?: string;
  language: LanguageState;
}

export type Severity = "normal" | "warning" | "error";

export interface StatusView {
  text: string;
  tooltip: string;
  accessibleLabel: string;
  severity: Severity;
}

const CLICK = "Click for codegend options.";

export function renderStatus(status: Status, context: StatusContext): StatusView {
  const model = status.model;
  const detail = status.message !== undefined ? `\n${status.message}` : "";
  switch (status.phase) {
    case "notFound":
      return view("$(warning) codegend: not found", `codegend server not found.${detail}\n${CLICK}`,
        "codegend server not found", "error");
    case "crashed":
      return view("$(error) codegend: crashed", `The codegend server keeps stopping.${detail}\n${CLICK}`,
        "codegend server crashed", "error");
    case "failed":
      return view("$(error) codegend: error", `codegend cannot complete.${detail}\n${CLICK}`,
        `codegend error${status.message !== undefined ? `: ${status.message}` : ""}`, "error");
    case "stopped":
      return view("$(debug-stop) codegend: stopped", `The codegend server is stopped.\n${CLICK}`,
        "codegend stopped", "warning");
    default:
      break;
  }
  if (!context.enabled) {
    return view("$(circle-slash) codegend: off", `Completions are disabled.\n${CLICK}`, "codegend disabled", "normal");
  }
  if (status.phase === "disabled") {
    return view("$(circle-slash) codegend: off", `The server has completions disabled.${detail}\n${CLICK}`,
      "codegend disabled", "normal");
  }
  if (status.phase === "starting") {
    return view("$(sync~spin) codegend: starting", `Starting the codegend server…${detail}`, "codegend starting", "normal");
  }
  if (status.phase === "loading") {
    const what = model !== undefined ? ` ${model}` : "";
    return view(`$(sync~spin) codegend: loading${what}`, `Loading the model${what}…${detail}`,
      `codegend loading model${what}`, "normal");
  }
  // ready
  const name = model ?? "ready";
  if (context.languageId !== undefined && context.language !== "on") {
    const why = {
      disabled: `Completions are off for ${context.languageId} (setting codegend.disabledLanguages).`,
      unserved: `codegend does not complete ${context.languageId} files.`,
      unrouted: `No model serves ${context.languageId}: route it to a model in the codegend config file (routes:).`,
    }[context.language];
    return view(`$(circle-slash) codegend: off for ${context.languageId}`, `${why}\n${CLICK}`,
      `codegend ready, off for ${context.languageId}`, "normal");
  }
  return view(`$(check) codegend: ${name}`, `codegend is ready${model !== undefined ? `, model ${model}` : ""}.${detail}\n${CLICK}`,
    `codegend ready${model !== undefined ? `, model ${model}` : ""}`, "normal");
}

function view(text: string, tooltip: string, accessibleLabel: string, severity: Severity): StatusView {
  return { text, tooltip, accessibleLabel, severity };
}
