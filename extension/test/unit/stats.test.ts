import { strict as assert } from "node:assert";
import { test } from "node:test";
import { formatStats } from "../../src/stats";

test("acceptance is summed over models and languages, with the session counters", () => {
  const text = formatStats({
    acceptance: [
      { model: "default", language: "python", shown: 3, accepted: 1, acceptedCharacters: 12 },
      { model: "default", language: "go", shown: 1, accepted: 1, acceptedCharacters: 4 },
    ],
    session: { requests: 9, answeredByModel: 4, answeredFromCache: 2, cancelled: 3, empty: 0 },
  });
  assert.equal(text, "accepted 2 of 4 shown (50%); python/default 1/3, go/default 1/1; " +
    "this session: 9 requests, 4 answered by model, 2 answered from cache, 3 cancelled");
});

test("nothing shown yet, and answers of the wrong shape", () => {
  assert.equal(formatStats({ acceptance: [] }), "accepted 0 of 0 shown");
  assert.equal(formatStats({ acceptance: [{ model: 1 }, "x"] }), "accepted 0 of 0 shown");
  assert.equal(formatStats(null), "unexpected answer null");
});
