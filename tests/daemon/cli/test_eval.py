"""`codegend eval` end to end on a tiny model: the table, the JSON and the plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _codegend(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codegend", *args], capture_output=True,
                          text=True, timeout=600)


@pytest.fixture
def heldout(tmp_path) -> Path:
    directory = tmp_path / "heldout"
    directory.mkdir()
    (directory / "shapes.py").write_text("".join(
        f"class Shape{i}:\n    def __init__(self, size):\n        self.size = size * {i}\n\n"
        f"    def area(self):\n        return self.size * self.size\n\n" for i in range(40)))
    return directory


def test_eval_prints_a_row_per_recipe_and_writes_json_and_plot(tiny_codegen_dir, heldout,
                                                               tmp_path):
    report_path, plot_path = tmp_path / "eval.json", tmp_path / "eval.png"
    result = _codegend("eval", "--model", str(tiny_codegen_dir), "--heldout", str(heldout),
                       "--recipes", "dynamic-int8,int4-weight-only:block_size=16",
                       "--windows", "2", "--probes", "4", "--repeats", "1", "--threads", "1",
                       "--sensitivity", "2",
                       "--json", str(report_path), "--plot", str(plot_path))
    assert result.returncode == 0, result.stderr
    rows = [line.split()[0] for line in result.stdout.splitlines()[2:5]]
    assert rows == ["none", "dynamic-int8", "int4-weight-only:block_size=16"]

    report = json.loads(report_path.read_text())
    assert report["reference"] == "none"
    assert report["heldout"] == str(heldout)
    reference, int8, int4 = report["results"]
    assert reference["quality"]["top1_agreement"] == 1.0
    assert reference["quality"]["kl_divergence"] == pytest.approx(0.0, abs=1e-9)
    assert reference["probes"]["greedy_exact_match"] == 1.0
    assert reference["decode_speedup"] == 1.0
    for row in (int8, int4):
        assert row["size_bytes"] < reference["size_bytes"]
        assert 0.0 <= row["quality"]["top1_agreement"] <= 1.0
        assert row["quality"]["positions"] == reference["quality"]["positions"] == 2 * 127
        assert row["probes"]["probes"] == 4
        assert row["cost"]["resident_mb"] > 0 and row["cost"]["decode_s_per_token"] > 0
        assert row["cost"]["threads"] == 1
    assert int4["options"]["block_size"] == 16
    assert reference["most_hurt"] == []
    for row in (int8, int4):
        assert len(row["most_hurt"]) == 2
        assert row["most_hurt"][0]["node_sqnr_db"] <= row["most_hurt"][1]["node_sqnr_db"]
    assert f"int4-weight-only:block_size=16:exclude_nodes={int4['most_hurt'][0]['node']}" \
        in result.stdout
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (("--recipes", "int3-magic"), "unknown quantization 'int3-magic'"),
    (("--recipes", "static-int8:method=guess"), "choose from minmax, percentile, entropy"),
    (("--plot", "eval.svg"), "PNG"),
    (("--probes", "0"), "--probes must be at least 1"),
    (("--heldout", "/nonexistent/code"), "not a directory"),
])
def test_eval_rejects_bad_input_with_one_line(tiny_codegen_dir, args, message, capsys):
    from codegend.daemon.cli.main import main

    assert main(["eval", "--model", str(tiny_codegen_dir), *args]) == 1
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert captured.out == ""
