// Which of the language client's standard features this extension leaves out.
//
// codegend answers both textDocument/inlineCompletion (ghost text) and textDocument/completion
// (for editors without inline completion). VS Code has inline completion, so a completion
// provider would only repeat the ghost text at the top of the IntelliSense list (Ctrl+Space).
// Left out, the client never registers that provider, and it does not claim completion
// support in its capabilities either.

const LEFT_OUT: ReadonlySet<string> = new Set(["textDocument/completion"]);

/** True for a feature the client must not register (matched by its LSP method). */
export function isLeftOut(feature: unknown): boolean {
  const method = (feature as { registrationType?: { method?: unknown } } | undefined)
    ?.registrationType?.method;
  return typeof method === "string" && LEFT_OUT.has(method);
}
