// Why the server process ended, in words a user can act on. The language client only knows
// that its pipe broke ("write EPIPE", "Connection closed"); the cause is in the last lines the
// process wrote to stderr. Pure: the session keeps the lines, this reads them.
import { isPythonInterpreter } from "./serverCommand";

/** The last lines a server process wrote to stderr. */
export class OutputTail {
  private readonly lines: string[] = [];

  constructor(private readonly size = 20) {}

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.size) {
      this.lines.shift();
    }
  }

  get all(): readonly string[] {
    return this.lines;
  }
}

export interface ExitExplanation {
  /** Starting the same command again cannot help: the user must change something first. */
  permanent: boolean;
  message: string;
}

// `python -m codegend` without codegend: "/usr/bin/python3: No module named codegend"; a
// console script whose package is gone: "ModuleNotFoundError: No module named 'codegend'".
const NO_CODEGEND = /No module named '?codegend'?(\s|$)/;

/**
 * The cause of a server exit from its stderr, or undefined when it said nothing useful.
 * `command` is the executable that was started (a Python interpreter or codegend).
 */
export function explainServerExit(stderr: readonly string[], command: string): ExitExplanation | undefined {
  if (stderr.some((line) => NO_CODEGEND.test(line))) {
    const what = isPythonInterpreter(command)
      ? `The Python at ${command} does not have codegend installed`
      : `${command} cannot find the codegend package it belongs to`;
    return {
      permanent: true,
      message: `${what} ("No module named codegend"). Install codegend into that environment ` +
        `(python -m pip install <codegend source or wheel>), or set "codegend.server.command" to a ` +
        `Python or codegend executable that has it.`,
    };
  }
  const last = [...stderr].reverse().find((line) => line.trim() !== "");
  return last === undefined ? undefined : { permanent: false, message: last.trim() };
}
