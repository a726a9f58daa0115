"""The daemon configuration a replay runs with, written out as YAML for ``codegend lsp``.

The built-in default (what a fresh install serves), a single model source, or the user's
file, each read through the daemon's own validated parser and written back with only what
differs from the defaults, optionally with every model's ``min_confidence`` overridden (to
replay with the gate at a given threshold, or off at 0).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from codegend.daemon.config import DaemonConfig, RouteConfig, default_config, load_config
from codegend.engine.model_spec import ModelSpec


def _changed(obj: Any, default: Any) -> dict[str, Any]:
    result = {}
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if field.name in ("name", "source", "model") or value != getattr(default, field.name):
            result[field.name] = list(value) if isinstance(value, tuple) else value
    return result


def config_yaml(config: DaemonConfig, min_confidence: float | None = None) -> str:
    models = []
    for model in config.models:
        if min_confidence is not None:
            model = dataclasses.replace(model, min_confidence=min_confidence)
        models.append(_changed(model, ModelSpec()))
    routes = [_changed(route, RouteConfig(model=route.model)) for route in config.routes]
    return yaml.safe_dump({"models": models, "routes": routes}, sort_keys=False)


def replay_config(
    config_path: str | None, model_source: str | None, min_confidence: float | None
) -> tuple[DaemonConfig, str]:
    """(the config, its YAML) for ``--config`` or ``--model`` or, with neither, the default."""
    if config_path:
        config = load_config(Path(config_path).expanduser().resolve())
    elif model_source:
        config = DaemonConfig(
            server=default_config().server,
            models=(ModelSpec(name="replay", source=model_source),),
            routes=(RouteConfig(model="replay"),),
        )
    else:
        config = default_config()
    return config, config_yaml(config, min_confidence)
