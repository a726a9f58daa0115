// One readable line from the server's `codegend/stats` answer:
// {acceptance: [{model, language, shown, accepted, acceptedCharacters}], session: {requests, ...}}

interface AcceptanceRow {
  model: string;
  language: string;
  shown: number;
  accepted: number;
}

export function formatStats(stats: unknown): string {
  if (typeof stats !== "object" || stats === null) {
    return `unexpected answer ${JSON.stringify(stats)}`;
  }
  const record = stats as { acceptance?: unknown; session?: unknown };
  const rows = Array.isArray(record.acceptance) ? record.acceptance.filter(isAcceptanceRow) : [];
  const parts: string[] = [];
  const shown = rows.reduce((sum, row) => sum + row.shown, 0);
  const accepted = rows.reduce((sum, row) => sum + row.accepted, 0);
  const rate = shown > 0 ? ` (${Math.round((100 * accepted) / shown)}%)` : "";
  parts.push(`accepted ${accepted} of ${shown} shown${rate}`);
  const perLanguage = rows.filter((row) => row.shown > 0 || row.accepted > 0)
    .map((row) => `${row.language}/${row.model} ${row.accepted}/${row.shown}`);
  if (perLanguage.length > 1) {
    parts.push(perLanguage.join(", "));
  }
  if (typeof record.session === "object" && record.session !== null) {
    const session = record.session as Record<string, unknown>;
    const counters = ["requests", "answeredByModel", "answeredFromCache", "cancelled"]
      .filter((key) => typeof session[key] === "number")
      .map((key) => `${session[key]} ${words(key)}`);
    if (counters.length > 0) {
      parts.push(`this session: ${counters.join(", ")}`);
    }
  }
  return parts.join("; ");
}

function isAcceptanceRow(value: unknown): value is AcceptanceRow {
  const row = value as AcceptanceRow;
  return typeof value === "object" && value !== null && typeof row.model === "string" &&
    typeof row.language === "string" && typeof row.shown === "number" && typeof row.accepted === "number";
}

/** "answeredFromCache" → "answered from cache". */
function words(camel: string): string {
  return camel.replace(/[A-Z]/g, (letter) => ` ${letter.toLowerCase()}`);
}
