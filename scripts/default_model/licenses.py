"""Which licenses let a package's source train the shipped models: a permissive allowlist.

A package is kept only when its license metadata says, without doubt, that every part of it
is under a permissive license (MIT, BSD, Apache-2.0, PSF, ISC, HPND, Unlicense, zlib and
their SPDX variants, plus BSL-1.0 and CC0-1.0: the Boost license and the public-domain
dedication ask no more than those; torch and numpy carry them for a few files). Anything
else -- copyleft, weak copyleft (MPL-2.0), custom text, or no license at all -- leaves the
package out. The decision and its reason go into the manifest.

Python distributions are read from their metadata in this order: the SPDX
`License-Expression` (PEP 639), the trove classifiers, then a short `License` field. npm
packages from `package.json`: `license` (an SPDX expression), or the legacy `licenses` list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# SPDX identifiers (upper-cased) whose terms let us train on and ship weights derived from
# the code without conditions beyond attribution.
PERMISSIVE_SPDX = frozenset(
    {
        "MIT", "MIT-0", "MIT-CMU", "X11", "0BSD", "BSD-1-CLAUSE", "BSD-2-CLAUSE",
        "BSD-3-CLAUSE", "BSD-3-CLAUSE-CLEAR", "BSD-4-CLAUSE", "APACHE-2.0", "PSF-2.0",
        "PYTHON-2.0", "ISC", "HPND", "UNLICENSE", "ZLIB", "BSL-1.0", "CC0-1.0",
    }
)
# Free-text names found in old `License:` fields and trove classifiers.
PERMISSIVE_NAMES = (
    ("MIT", re.compile(r"^(the )?mit( license)?$", re.I)),
    ("BSD", re.compile(r"^(new |modified |simplified )?bsd([ -][0-9]-clause)?( license)?$", re.I)),
    ("BSD", re.compile(r"^[0-9]-clause bsd( license)?$", re.I)),
    ("Apache-2.0", re.compile(
        r"^apache( software)?( license)?[ ,-]*(v(ersion)? ?)?(2(\.0)?)?( license)?$", re.I)),
    ("PSF-2.0", re.compile(r"^(psf|python software foundation)( license)?( 2\.0)?$", re.I)),
    ("ISC", re.compile(r"^isc( license)?( \(iscl\))?$", re.I)),
    ("HPND", re.compile(r"^historical permission notice and disclaimer \(hpnd\)$", re.I)),
    ("Unlicense", re.compile(r"^(the )?unlicense( \(unlicense\))?$", re.I)),
    ("Zlib", re.compile(r"^zlib(/libpng)?( license)?$", re.I)),
)
_SPDX_TOKEN = re.compile(r"\(|\)|[A-Za-z0-9.+:-]+")


@dataclass(frozen=True)
class LicenseVerdict:
    """Whether a package may be used, the license as found, and why."""

    allowed: bool
    license: str  # as the metadata states it (shortened), or "unknown"
    reason: str


def spdx_is_permissive(expression: str) -> bool:
    """Evaluate an SPDX expression: AND needs both sides permissive, OR either side.

    `X WITH exception` is judged by X (exceptions only add permissions). A malformed
    expression is not permissive.
    """
    tokens = _SPDX_TOKEN.findall(expression)
    position = 0

    def parse_or() -> bool:
        nonlocal position
        value = parse_and()
        while position < len(tokens) and tokens[position].upper() == "OR":
            position += 1
            right = parse_and()
            value = value or right
        return value

    def parse_and() -> bool:
        nonlocal position
        value = parse_term()
        while position < len(tokens) and tokens[position].upper() == "AND":
            position += 1
            right = parse_term()
            value = value and right
        return value

    def parse_term() -> bool:
        nonlocal position
        if position >= len(tokens):
            raise ValueError("expression ends early")
        token = tokens[position]
        position += 1
        if token == "(":
            value = parse_or()
            if position >= len(tokens) or tokens[position] != ")":
                raise ValueError("unbalanced parenthesis")
            position += 1
        elif token in (")",) or token.upper() in ("AND", "OR", "WITH"):
            raise ValueError(f"unexpected {token!r}")
        else:
            value = token.upper().removesuffix("+") in PERMISSIVE_SPDX
        if position < len(tokens) and tokens[position].upper() == "WITH":
            position += 2  # the exception identifier
        return value

    try:
        value = parse_or()
    except ValueError:
        return False
    return value and position == len(tokens)


def _name_is_permissive(text: str) -> str | None:
    text = text.strip()
    for family, pattern in PERMISSIVE_NAMES:
        if pattern.match(text):
            return family
    return None


def classify_python(license_expression: str | None, classifiers: list[str],
                    license_text: str | None) -> LicenseVerdict:
    """The verdict for a Python distribution's metadata."""
    if license_expression:
        allowed = spdx_is_permissive(license_expression)
        return LicenseVerdict(allowed, license_expression,
                              "SPDX License-Expression" + ("" if allowed else " not permissive"))
    # "OSI Approved" and "DFSG approved" alone are categories, not licenses.
    license_classifiers = [c for c in classifiers if c.startswith("License ::")
                           and c.rsplit("::", 1)[1].strip() not in ("OSI Approved",
                                                                    "DFSG approved")]
    if license_classifiers:
        names = [c.rsplit("::", 1)[1].strip() for c in license_classifiers]
        families = [_name_is_permissive(n) for n in names]
        # Several classifiers usually mean "choose one" (dual licensing) or list the parts;
        # keep the package only when every one is permissive, the cautious reading.
        allowed = all(families)
        return LicenseVerdict(allowed, "; ".join(names),
                              "trove classifiers" + ("" if allowed else " not all permissive"))
    if license_text:
        first_line = license_text.strip().splitlines()[0] if license_text.strip() else ""
        family = _name_is_permissive(first_line) if len(first_line) < 80 else None
        if family is None and spdx_is_permissive(first_line):
            family = first_line
        if family:
            return LicenseVerdict(True, first_line, "License field")
        return LicenseVerdict(False, first_line[:60] or "unknown",
                              "License field not a known permissive license")
    return LicenseVerdict(False, "unknown", "no license metadata")


def classify_npm(package: dict) -> LicenseVerdict:
    """The verdict for an npm package.json."""
    value = package.get("license")
    if isinstance(value, dict):
        value = value.get("type")
    if isinstance(value, str) and value.strip():
        allowed = spdx_is_permissive(value)
        return LicenseVerdict(allowed, value, "package.json license"
                              + ("" if allowed else " not permissive"))
    legacy = package.get("licenses")
    if isinstance(legacy, list) and legacy:
        names = [item.get("type", "") if isinstance(item, dict) else str(item) for item in legacy]
        # The legacy list means "any of these" (dual licensing).
        allowed = any(spdx_is_permissive(name) for name in names)
        return LicenseVerdict(allowed, " OR ".join(names), "package.json licenses list")
    return LicenseVerdict(False, "unknown", "no license in package.json")
