"""Recipe options: checked against the recipe's defaults and coerced to the defaults' types.

Options arrive as strings from the command line (``static-int8:method=entropy``), as YAML
scalars or lists from the config, or as Python values from code. Every recipe declares its
options by their defaults, so a misspelt key or a value of the wrong kind is one clear error
before anything is built, and equal settings always hash to the same artifact key.
"""

from __future__ import annotations

from codegend.engine.errors import CodegendError

LIST_SEPARATOR = "+"  # "exclude_nodes=*lm_head*+*h.0/*": ',' already separates recipes


def coerce_options(recipe: str, defaults: dict, choices: dict[str, tuple], given: dict) -> dict:
    """``defaults`` overlaid with ``given``, each value of its default's type.

    A default of ``None`` means "a path or nothing"; a tuple default means a list of names.
    """
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise CodegendError(
            f"{recipe}: unknown option {unknown[0]!r} "
            f"(options: {', '.join(sorted(defaults)) or 'none'})"
        )
    options = dict(defaults)
    for key, value in given.items():
        options[key] = _coerce(recipe, key, defaults[key], value)
        allowed = choices.get(key)
        if allowed and options[key] not in allowed:
            raise CodegendError(f"{recipe}: {key}={value!r} (choose from "
                                f"{', '.join(map(str, allowed))})")
    return options


def parse_recipe_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"static-int8:method=percentile:percentile=99.99"`` -> name and raw string options."""
    name, *pairs = spec.strip().split(":")
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CodegendError(f"recipe {spec!r}: expected KEY=VALUE after ':', got {pair!r}")
        options[key.strip().replace("-", "_")] = value.strip()
    return name.strip(), options


def format_recipe_spec(name: str, options: dict, defaults: dict) -> str:
    """The short label of a recipe: its name plus only the options that differ from defaults."""
    changed = [f"{k}={_format_value(v)}" for k, v in sorted(options.items())
               if defaults.get(k) != v]
    return ":".join([name, *changed])


def _format_value(value) -> str:
    if isinstance(value, tuple | list):
        return LIST_SEPARATOR.join(map(str, value))
    return str(value)


def _coerce(recipe: str, key: str, default, value):
    def bad(kind: str) -> CodegendError:
        return CodegendError(f"{recipe}: option {key}={value!r} is not {kind}")

    if isinstance(default, bool):  # before int: bool is an int subclass
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise bad("true or false")
    if isinstance(default, int):
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise bad("an integer") from None
    if isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad("a number") from None
    if isinstance(default, tuple):
        if isinstance(value, str):
            items = [v for v in value.split(LIST_SEPARATOR) if v.strip()]
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise bad(f"a list of names (separate them with {LIST_SEPARATOR!r})")
        return tuple(str(item).strip() for item in items)
    if default is None:
        if value is None or str(value).strip() in ("", "none", "None"):
            return None
        return str(value)
    return str(value).strip().lower()
