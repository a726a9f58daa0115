// How many times a crashing server is restarted: at most `maxRestarts` within `windowMs`,
// so a server that dies at start-up does not spin forever, while one crash a day never
// exhausts the budget.

export interface RestartDecision {
  restart: boolean;
  /** Crashes counted in the current window, this one included. */
  crashes: number;
}

export class RestartBudget {
  private crashTimes: number[] = [];

  constructor(readonly maxRestarts: number, readonly windowMs: number) {
    if (maxRestarts < 0 || windowMs <= 0) {
      throw new Error("RestartBudget needs maxRestarts >= 0 and windowMs > 0");
    }
  }

  /** Records a crash at `now` (milliseconds) and says whether to start the server again. */
  recordCrash(now: number): RestartDecision {
    this.crashTimes = this.crashTimes.filter((time) => now - time < this.windowMs);
    this.crashTimes.push(now);
    return { restart: this.crashTimes.length <= this.maxRestarts, crashes: this.crashTimes.length };
  }

  /** A deliberate restart by the user starts with a full budget. */
  reset(): void {
    this.crashTimes = [];
  }
}

/** Waits longer after each crash in a row: 0.5 s, 1 s, 2 s, 4 s, then 8 s at most. */
export function restartDelayMs(crashes: number): number {
  return Math.min(8000, 500 * 2 ** Math.max(0, crashes - 1));
}
