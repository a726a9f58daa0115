"""What the pipeline needs to know about a language: how it writes a line comment.

Keyed by LSP language id. An unknown id is not an error: it gets no comment syntax, so the
stages that need one (snippet labels, skipping comments when balancing brackets) step aside.
"""

from __future__ import annotations

_HASH = (
    "python", "shellscript", "ruby", "perl", "r", "yaml", "toml", "dockerfile", "makefile",
    "coffeescript", "julia", "elixir", "powershell", "nim", "cmake",
)
_SLASHES = (
    "c", "cpp", "csharp", "java", "javascript", "javascriptreact", "typescript",
    "typescriptreact", "go", "rust", "swift", "kotlin", "scala", "php", "dart", "objective-c",
    "objective-cpp", "groovy", "zig", "jsonc", "proto", "solidity", "verilog",
)
_DASHES = ("sql", "lua", "haskell", "elm", "ada", "vhdl")
_LINE_COMMENT: dict[str, str] = {
    **{lang: "#" for lang in _HASH},
    **{lang: "//" for lang in _SLASHES},
    **{lang: "--" for lang in _DASHES},
    "latex": "%", "tex": "%", "erlang": "%", "matlab": "%", "clojure": ";", "lisp": ";",
    "scheme": ";", "vim": '"', "bat": "REM ",
}


def line_comment(language: str) -> str | None:
    """The line comment opener of ``language``; None when unknown or there is none."""
    return _LINE_COMMENT.get(language.lower())


def strip_line_comment(line: str, language: str) -> str:
    """``line`` without a trailing line comment (strings are not parsed: a marker inside a
    string literal cuts too early, which only makes the callers more cautious)."""
    marker = line_comment(language)
    if marker is None or marker not in line:
        return line
    return line[: line.index(marker)]
