// The quick pick behind the status bar item: which actions it offers in which state.
import { ModelsResult } from "./protocol";
import { Status } from "./status";

export interface MenuItem {
  label: string;
  description?: string;
  /** The command the item runs. */
  command: string;
}

export function menuItems(status: Status, enabled: boolean, configPath: string): MenuItem[] {
  const items: MenuItem[] = [];
  items.push(enabled
    ? { label: "$(circle-slash) Disable completions", command: "codegend.disable" }
    : { label: "$(check) Enable completions", command: "codegend.enable" });
  const serverUp = status.phase === "ready" || status.phase === "loading" || status.phase === "failed" ||
    status.phase === "disabled";
  if (serverUp) {
    items.push({ label: "$(layers) Switch model…", description: status.model, command: "codegend.selectModel" });
    items.push({ label: "$(graph) Show statistics", command: "codegend.showStats" });
  }
  items.push({ label: "$(output) Show output", command: "codegend.showOutput" });
  items.push({ label: "$(gear) Open config file", description: configPath, command: "codegend.openConfig" });
  items.push({
    label: status.phase === "notFound" ? "$(settings-edit) Set the server command" : "$(debug-restart) Restart server",
    command: status.phase === "notFound" ? "codegend.openServerSetting" : "codegend.restartServer",
  });
  return items;
}

export interface ModelPickItem {
  label: string;
  description?: string;
  /** The value for the `codegend.model` setting; null routes by language. */
  model: string | null;
  picked: boolean;
}

/** The model quick pick: "route by language" first, then every model the server serves. */
export function modelPickItems(result: ModelsResult, selected: string | null): ModelPickItem[] {
  const items: ModelPickItem[] = [{
    label: "$(list-tree) Route by language",
    description: result.active !== undefined ? `config routes (now ${result.active})` : "config routes",
    model: null,
    picked: selected === null,
  }];
  for (const model of result.models) {
    const notes = [model.state, model.name === result.active ? "active" : undefined].filter((note) => note !== undefined);
    items.push({
      label: `${model.name === selected ? "$(check)" : "$(blank)"} ${model.name}`,
      description: notes.length > 0 ? notes.join(" · ") : undefined,
      model: model.name,
      picked: model.name === selected,
    });
  }
  return items;
}
