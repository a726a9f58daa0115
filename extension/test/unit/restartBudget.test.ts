import { strict as assert } from "node:assert";
import { test } from "node:test";
import { RestartBudget, restartDelayMs } from "../../src/restartBudget";

test("restarts up to the budget within the window, then gives up", () => {
  const budget = new RestartBudget(3, 60_000);
  const decisions = [0, 1000, 2000, 3000, 4000].map((time) => budget.recordCrash(time));
  assert.deepEqual(decisions.map((decision) => decision.restart), [true, true, true, false, false]);
  assert.deepEqual(decisions.map((decision) => decision.crashes), [1, 2, 3, 4, 5]);
});

test("crashes older than the window no longer count", () => {
  const budget = new RestartBudget(2, 10_000);
  budget.recordCrash(0);
  budget.recordCrash(1000);
  assert.equal(budget.recordCrash(5000).restart, false);
  assert.deepEqual(budget.recordCrash(14_000), { restart: true, crashes: 2 }); // 5000 and 14000
});

test("a restart the user asks for starts with a full budget", () => {
  const budget = new RestartBudget(1, 10_000);
  budget.recordCrash(0);
  assert.equal(budget.recordCrash(1).restart, false);
  budget.reset();
  assert.equal(budget.recordCrash(2).restart, true);
});

test("a nonsensical budget is refused", () => {
  assert.throws(() => new RestartBudget(-1, 1000));
  assert.throws(() => new RestartBudget(1, 0));
});

test("restarts back off, up to a ceiling", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 9].map(restartDelayMs), [500, 1000, 2000, 4000, 8000, 8000]);
});
