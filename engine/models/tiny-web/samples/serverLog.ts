// The server's stderr goes to the output channel line by line. The library logs every such
// line as an error; this picks a level from the line instead, so "model ready" reads as info
// and a Python traceback stays together as one error.

export type ServerLogLevel = "error" | "warn" | "info";

const ERROR_LINE = /^(codegend: )?(error|critical)\b|\b(ERROR|CRITICAL)\b|^Traceback \(most recent call last\)/i;
const WARNING_LINE = /^(codegend: )?warning\b|\bWARNING\b/i;
// The last line of a traceback: "ValueError: ..." or "codegend.engine.errors.ModelSourceError: ...".
const EXCEPTION_LINE = /^[\w.]*(Error|Exception|Interrupt|Exit)\b/;

export class ServerLogClassifier {
  private inTraceback = false;

  level(line: string): ServerLogLevel {
    if (this.inTraceback) {
      if (EXCEPTION_LINE.test(line)) {
        this.inTraceback = false;
      }
      return "error";
    }
    if (line.startsWith("Traceback (most recent call last)")) {
      this.inTraceback = true;
      return "error";
    }
    if (ERROR_LINE.test(line) || EXCEPTION_LINE.test(line)) {
      return "error";
    }
    return WARNING_LINE.test(line) ? "warn" : "info";
  }
}
