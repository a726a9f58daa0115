"""The license allowlist on constructed metadata: only clearly permissive packages train."""

from __future__ import annotations

import pytest
from default_model.licenses import classify_npm, classify_python, spdx_is_permissive


@pytest.mark.parametrize(("expression", "allowed"), [
    ("MIT", True),
    ("Apache-2.0 WITH LLVM-exception", True),
    ("BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0", True),
    ("(MIT OR GPL-3.0-only)", True),
    ("MIT AND GPL-3.0-only", False),
    ("MPL-2.0", False),
    ("MPL-2.0 AND MIT", False),
    ("BlueOak-1.0.0", False),
    ("SEE LICENSE IN LICENSE.txt", False),
    ("MIT AND (", False),
    ("", False),
])
def test_spdx_expressions(expression: str, allowed: bool) -> None:
    assert spdx_is_permissive(expression) is allowed


def test_python_metadata_order_expression_then_classifiers_then_text() -> None:
    assert classify_python("MPL-2.0", ["License :: OSI Approved :: MIT License"], "MIT").allowed \
        is False
    assert classify_python(None, ["License :: OSI Approved :: BSD License"], "x").allowed
    # A bare category classifier is no license; the MIT one decides.
    assert classify_python(None, ["License :: DFSG approved",
                                  "License :: OSI Approved :: MIT License"], None).allowed
    mixed = classify_python(None, ["License :: OSI Approved :: MIT License",
                                   "License :: OSI Approved :: GNU General Public License (GPL)"],
                            None)
    assert not mixed.allowed and "GNU" in mixed.license
    assert classify_python(None, [], "Apache 2.0 License").allowed
    assert classify_python(None, [], "BSD 3-Clause License\n\nCopyright (c) ...").allowed
    unknown = classify_python(None, [], None)
    assert not unknown.allowed and unknown.license == "unknown"
    assert not classify_python(None, [], "Proprietary; all rights reserved").allowed


def test_npm_license_fields() -> None:
    assert classify_npm({"license": "ISC"}).allowed
    assert classify_npm({"license": {"type": "MIT"}}).allowed
    assert classify_npm({"licenses": [{"type": "GPL-2.0"}, {"type": "MIT"}]}).allowed
    assert not classify_npm({"license": "Artistic-2.0"}).allowed
    assert not classify_npm({}).allowed
