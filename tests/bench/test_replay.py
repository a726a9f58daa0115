"""The typing replay on a small fixture: keystrokes as an editor sends them, through the real
language server (with a scripted engine), judged exactly."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from bench.bench_replay import figures_by_language, infill_by_language, main, run_replay
from bench.replay.held_out import Stretch
from bench.replay.judge import Shown, judge, typed_along
from bench.replay.lsp_driver import Infill
from bench.replay.typist import Pauses, type_stretch

FIXTURE = """def area(r):
    return 3.14 * r * r


total = area(2) + area(3)
print(total)
"""
# The scripted engine answers by the last non-blank line of the prompt.
ANSWERS = {
    "total = ar": "ea(2) + area(3)",  # right: accepted in full
    "total = area(2) +": " area(4)",  # one word right: partly accepted
    "return 3.14 * r * r": "total = area(2) + area(3)",  # the infill probe of the typed line
}


@pytest.fixture
def stretch(tmp_path: Path) -> Stretch:
    path = tmp_path / "geometry.py"
    path.write_text(FIXTURE)
    return Stretch(path, "fixture", "python", 4, 5)  # types "total = area(2) + area(3)"


def scripted_server(tmp_path: Path) -> list[str]:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"answers": ANSWERS}))
    return [sys.executable, "-m", "tests.lsp.fake_engine_server", str(script)]


def test_the_typist_auto_closes_and_steps_over_like_an_editor(stretch: Stretch) -> None:
    script = type_stretch(stretch, Pauses(cps=0))
    assert script.typed == "total = area(2) + area(3)"
    assert [k.inserted for k in script.keystrokes if len(k.inserted) > 1] == ["()", "()"]
    assert [k.char for k in script.keystrokes if k.removed] == [")", ")"]
    assert script.document(12).endswith("total = area()\nprint(total)\n")  # after "("
    assert script.document(len(script.keystrokes) - 1) == FIXTURE
    assert script.cleanup == ""


def test_typed_along_judges_the_document_not_the_keystrokes(stretch: Stretch) -> None:
    script = type_stretch(stretch, Pauses(cps=0))
    k = script.typed.index("(")  # the state after "total = area(", a ")" auto-closed
    assert script.keystrokes[k].pending == ")"
    assert typed_along(script, k, "2")
    # Inserting "2)" before the auto-closed ")" would leave "area(2))": not what was typed.
    assert not typed_along(script, k, "2)")
    verdict = judge(script, Shown(k, "2) + area(3)", 0.0, "model"), {})
    # Word by word, "2) + area(3" leaves the document typed (the editor closed the second
    # call's paren too); the whole does not.
    assert not verdict.accepted and verdict.partial_chars == len("2) + area(3")


def test_the_replay_through_the_language_server(stretch: Stretch, tmp_path: Path) -> None:
    script = type_stretch(stretch, Pauses(cps=0))  # each answer awaited: deterministic
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    runs, counters = asyncio.run(
        run_replay(scripted_server(tmp_path), env, [script], debounce_ms=0, ready_timeout_s=60,
                   infill_lines=1))
    figures = figures_by_language(runs)["python"]
    assert figures.typed_chars == 25
    assert (figures.shown, figures.accepted, figures.partial) == (2, 1, 1)
    assert figures.accepted_share == 0.5
    assert figures.accepted_chars_per_typed == round(15 / 25, 4)
    assert figures.partial_chars_per_typed == round(len(" area") / 25, 4)
    assert figures.ghost_chars_per_typed == round((15 + 8) / 25, 4)
    assert (figures.breaking, figures.judged_for_parsing) == (0, 1)
    assert figures.latency_ms_p50 is not None
    assert counters["answeredFromCache"] >= 2  # "e", "a" typed along the first suggestion
    # The typed line deleted and asked for explicitly, with the rest of the file after it.
    assert runs[0].infill == (Infill("total = area(2) + area(3)", "total = area(2) + area(3)"),)
    assert infill_by_language(runs)["python"] == {"probes": 1, "exact": 1, "exact_match": 1.0}


def test_the_command_line_on_held_out_code(tmp_path: Path) -> None:
    out = tmp_path / "replay.json"
    command = " ".join(scripted_server(tmp_path))
    report = main(["--suites", "python", "--chars-per-package", "30", "--cps", "0",
                   "--debounce-ms", "0", "--infill-lines", "1", "--server-command", command,
                   "--out", str(out)])
    assert json.loads(out.read_text())["figures"] == report["figures"]
    assert len(report["stretches"]) == 8  # one per held-out Python package
    assert all(s["errors"] == 0 and s["unclosed"] == "" for s in report["stretches"])
    assert report["figures"]["all"]["typed_chars"] >= 8 * 30
    assert report["infill"]["all"]["probes"] == 8
