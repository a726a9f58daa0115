"""The editor-facing settings of ``codegend lsp``, read from the client's camelCase JSON.

Settings arrive from ``initializationOptions`` and from ``workspace/configuration`` (section
``codegend``). One converter, :func:`settings_from_json`, turns that JSON into the frozen
:class:`Settings`; every value it cannot use is reported by name and replaced by the default,
so one typo never switches completions off. This is the one place settings are checked:
editor extensions pass the user's values through (the VS Code extension only resolves
``configPath`` against its workspace), and its ``package.json`` declares the same keys and
defaults for the settings UI (a test holds the two together).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

MaxCompletion = Literal["line", "block", "auto"]
MAX_DEBOUNCE_MS = 2000


@dataclass(frozen=True)
class Settings:
    enable: bool = True  # False: the server answers every completion request empty
    disabled_languages: frozenset[str] = frozenset()  # LSP language ids never completed
    config_path: str | None = None  # the daemon's YAML config; `--config` on the command line wins
    debounce_ms: int = 75  # automatic triggers wait this long for the next keystroke
    max_completion: MaxCompletion = "auto"  # line: one line; block: multi-line where the rest of
    #                                        the line is empty; auto: multi-line only after a block
    #                                        opener or in an empty body
    model: str | None = None  # a model name that overrides routing by language
    # While a suggestion is shown, compute in the background the one that follows its
    # acceptance, so Tab brings the next ghost text from the cache (lsp/pipeline/prefetch).
    prefetch: bool = True

    def language_enabled(self, language: str) -> bool:
        return self.enable and language not in self.disabled_languages


@dataclass(frozen=True)
class SettingProblem:
    name: str  # the camelCase key as the user wrote it
    message: str

    def __str__(self) -> str:
        return f'codegend: setting "{self.name}" {self.message}; using the default'


def _camel_case(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def _as_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false (got {value!r})")
    return value


def _as_languages(value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"must be a list of language ids (got {value!r})")
    return frozenset(v.strip() for v in value if v.strip())  # " json " is json


def _as_optional_text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"must be a string (got {value!r})")
    return value.strip() or None  # blank means unset


def _as_debounce(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number of milliseconds (got {value!r})")
    if not 0 <= value <= MAX_DEBOUNCE_MS:
        raise ValueError(f"must be between 0 and {MAX_DEBOUNCE_MS} (got {value!r})")
    return int(value)


def _as_max_completion(value: Any) -> MaxCompletion:
    allowed = get_args(MaxCompletion)
    if value not in allowed:
        choices = ", ".join(f'"{choice}"' for choice in allowed[:-1])
        raise ValueError(f'must be {choices} or "{allowed[-1]}" (got {value!r})')
    return value


# One parser per field; the JSON key is the field name in camelCase.
_PARSERS: dict[str, Callable[[Any], Any]] = {
    "enable": _as_bool,
    "disabled_languages": _as_languages,
    "config_path": _as_optional_text,
    "debounce_ms": _as_debounce,
    "max_completion": _as_max_completion,
    "model": _as_optional_text,
    "prefetch": _as_bool,
}
assert set(_PARSERS) == {f.name for f in dataclasses.fields(Settings)}

def settings_from_json(
    raw: Any, base: Settings | None = None
) -> tuple[Settings, list[SettingProblem]]:
    """Read the settings the client sent on top of ``base``; keys the client left out keep
    ``base``'s value. Unknown keys are ignored (the editor extension may keep its own keys in
    the same section); values of the wrong type or range are reported and fall back."""
    base = base or Settings()
    if raw is None:
        return base, []
    if not isinstance(raw, Mapping):
        return base, [SettingProblem("codegend", f"must be an object (got {raw!r})")]
    defaults = Settings()
    values: dict[str, Any] = {}
    problems: list[SettingProblem] = []
    for name, parse in _PARSERS.items():
        key = _camel_case(name)
        if key not in raw:
            continue
        try:
            values[name] = parse(raw[key])
        except ValueError as err:
            problems.append(SettingProblem(key, str(err)))
            values[name] = getattr(defaults, name)
    return dataclasses.replace(base, **values), problems


@dataclass(frozen=True)
class ServerOptions:
    """What the command line fixed for the life of the process."""

    embedded: bool = False  # run the daemon core in this process instead of sharing one
    config_path: str | None = None  # --config; wins over the configPath setting
    stats_path: str | None = None  # where acceptance counts are kept; None: in memory only
