"""``pip install codegend`` resolves where users are: Linux, Windows and macOS.

The dependencies' environment markers are evaluated for each platform here (pip evaluates
markers for the machine it runs on, even with ``--platform``), then pip is asked, without
installing anything, whether every direct dependency has a wheel for macOS, ARM Linux and
Windows: the check that failed when the ONNX Runtime dependency was ``onnxruntime-gpu``
everywhere (it has no macOS or ARM Linux wheels). Transitive dependencies are not resolved
for the foreign platform, for the same reason: their markers would be read as this
machine's. Skipped when the index is unreachable.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PIP_TIMEOUT_S = 180
PLATFORMS = {  # name: (marker environment, the wheel platform tags pip may take)
    "linux": ({"sys_platform": "linux", "platform_system": "Linux",
               "platform_machine": "x86_64"}, ("manylinux_2_28_x86_64",)),
    "linux-arm": ({"sys_platform": "linux", "platform_system": "Linux",
                   "platform_machine": "aarch64"},
                  ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")),
    "windows": ({"sys_platform": "win32", "platform_system": "Windows",
                 "platform_machine": "AMD64"}, ("win_amd64",)),
    "macos": ({"sys_platform": "darwin", "platform_system": "Darwin",
               "platform_machine": "arm64"}, ("macosx_14_0_arm64",)),
}
GPU_BUILD = {"linux", "windows"}  # where onnxruntime-gpu has wheels


def requirements_for(platform: str) -> list[Requirement]:
    """The project's dependencies whose markers hold on ``platform`` (Python 3.11)."""
    environment = {**PLATFORMS[platform][0], "python_version": "3.11",
                   "python_full_version": "3.11.9", "os_name": "nt" if platform == "windows"
                   else "posix", "implementation_name": "cpython"}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(line) for line in project["dependencies"]]
    return [r for r in requirements if r.marker is None or r.marker.evaluate(environment)]


def test_x86_64_linux_and_windows_get_the_gpu_build_the_others_onnxruntime():
    for platform in PLATFORMS:
        names = {r.name for r in requirements_for(platform)}
        runtime = "onnxruntime-gpu" if platform in GPU_BUILD else "onnxruntime"
        assert runtime in names and len(names & {"onnxruntime", "onnxruntime-gpu"}) == 1


def _index_reachable() -> bool:
    try:
        answer = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "pip"],
                                capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False
    return answer.returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("platform", ["macos", "linux-arm", "windows"])
def test_every_dependency_has_a_wheel(platform, tmp_path):
    if not _index_reachable():
        pytest.skip("the package index is unreachable")
    specifiers = [f"{r.name}{r.specifier}" for r in requirements_for(platform)]
    report = tmp_path / "report.json"
    answer = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed",
         "--quiet", "--only-binary=:all:",
         *(f"--platform={tag}" for tag in PLATFORMS[platform][1]),
         "--python-version", "3.11", "--target", str(tmp_path / "target"),
         "--report", str(report), *specifiers],
        capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    errors = [line for line in answer.stderr.splitlines() if "ERROR" in line]
    assert answer.returncode == 0, "\n".join(errors) or answer.stderr[-2000:]
    chosen = {item["metadata"]["name"].lower().replace("_", "-"): item["download_info"]["url"]
              for item in json.loads(report.read_text())["install"]}
    assert chosen.keys() == {r.name.lower() for r in requirements_for(platform)}
    runtime = "onnxruntime-gpu" if platform in GPU_BUILD else "onnxruntime"
    tag = PLATFORMS[platform][1][0].split("_")[0]  # macosx, manylinux, win
    assert tag in chosen[runtime] and tag in chosen["torch"]
