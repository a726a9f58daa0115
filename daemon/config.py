"""The daemon's YAML configuration, validated into frozen, typed objects.

Every mistake is reported as ``FILE:LINE: KEY: what is wrong``: unknown keys, wrong types,
values out of range, duplicate model names and routes to undefined models. Line numbers come
from YAML's node marks, so the file is composed (not just loaded) and converted field by field
from each dataclass's type hints. ``daemon/CONFIG.md`` documents every key.
"""

from __future__ import annotations

import ipaddress
import os
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from codegend.engine.errors import CodegendError
from codegend.engine.model_source import DEFAULT_MODEL, WEB_MODEL
from codegend.engine.model_spec import ModelSpec
from codegend.engine.quant.recipes import parse_recipe


class ConfigError(CodegendError):
    """The configuration is invalid; the message names the file, line and key."""


def _bounds(low: float | None = None, high: float | None = None, **extra: Any) -> dict:
    return {"min": low, "max": high, **extra}


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"  # anything but loopback requires a token
    port: int = field(default=7878, metadata=_bounds(0, 65535))  # 0: any free port
    token_file: Path | None = None  # file holding the bearer token (first line)
    token_env: str | None = None  # environment variable holding the bearer token
    max_queue: int = field(default=16, metadata=_bounds(1))  # waiting requests per model
    max_body_bytes: int = field(default=1_000_000, metadata=_bounds(1024))
    max_prompt_chars: int = field(default=200_000, metadata=_bounds(1))
    max_tokens_limit: int = field(default=512, metadata=_bounds(1))  # cap on any max_tokens
    shutdown_timeout_s: float = field(default=5.0, metadata=_bounds(0))
    # With no request for this long (no editor is left: each polls every few seconds), the
    # daemon exits and releases its models; editors start it again on demand. 0: never.
    idle_exit_s: float = field(default=1800.0, metadata=_bounds(0))
    # The HTTP server's limits against slow or hostile clients (daemon/http/connections.py).
    max_connections: int = field(default=512, metadata=_bounds(8, 100_000))  # open at once
    header_timeout_s: float = field(default=5.0, metadata=_bounds(0.1))  # request line+headers
    body_timeout_s: float = field(default=5.0, metadata=_bounds(0.1))  # the whole body
    keep_alive_s: float = field(default=5.0, metadata=_bounds(0.1))  # idle between requests
    # Host header values accepted besides loopback names with the port ("*": any). On a
    # loopback bind the loopback names are always accepted; on a public bind with this
    # empty, any Host is (the bearer token protects it).
    allowed_hosts: tuple[str, ...] = ()

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)


@dataclass(frozen=True)
class RouteConfig:
    model: str
    languages: tuple[str, ...] = ()  # LSP language ids; empty: any language
    files: tuple[str, ...] = ()  # glob patterns on the file path; empty: any file

    @property
    def is_fallback(self) -> bool:
        return not self.languages and not self.files


@dataclass(frozen=True)
class DaemonConfig:
    server: ServerConfig
    models: tuple[ModelSpec, ...]
    routes: tuple[RouteConfig, ...]
    path: Path | None = None  # the file it was read from; None for the built-in default

    def model(self, name: str) -> ModelSpec | None:
        return next((m for m in self.models if m.name == name), None)

    @property
    def routed_models(self) -> tuple[ModelSpec, ...]:
        """Models some route points at: these are loaded eagerly and kept warm."""
        names = {r.model for r in self.routes}
        return tuple(m for m in self.models if m.name in names)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# The languages (LSP ids) each built-in model was trained on.
BUILTIN_ROUTES = (
    RouteConfig(model="tiny-py", languages=("python",)),
    RouteConfig(model="tiny-web", languages=("javascript", "javascriptreact", "typescript",
                                             "typescriptreact", "vue")),
)


def default_config() -> DaemonConfig:
    """The built-in models, each serving the languages it was trained on, and no fallback:
    a language neither knows gets no suggestion (the status says why) rather than junk."""
    return DaemonConfig(
        server=ServerConfig(),
        models=(ModelSpec(name="tiny-py", source=DEFAULT_MODEL),
                ModelSpec(name="tiny-web", source=WEB_MODEL)),
        routes=BUILTIN_ROUTES,
    )


def default_config_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("codegend")) / "config.yaml"


def load_config(path: Path) -> DaemonConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: config file not found") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the config file ({err})") from err
    return parse_config(text, path)


def resolve_config(
    path: Path | None, host: str | None = None, port: int | None = None
) -> DaemonConfig:
    """The config a command runs with: the named file, the default file, or the built-in."""
    if path is None and default_config_path().is_file():
        path = default_config_path()
    config = load_config(path.expanduser().resolve()) if path else default_config()
    server = config.server
    if host is not None or port is not None:
        server = replace(server, host=host or server.host,
                         port=server.port if port is None else port)
    return replace(config, server=server)


def parse_config(text: str, path: Path | None = None) -> DaemonConfig:
    parser = _Parser(str(path) if path else "<config>")
    root = parser.compose(text)
    config = parser.daemon_config(root)
    return DaemonConfig(config.server, config.models, config.routes, path)


def read_token(server: ServerConfig) -> str | None:
    """The bearer token the config names, or None when it names none."""
    if server.token_file is not None:
        try:
            token = server.token_file.expanduser().read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError(f"server.token_file: cannot read {server.token_file} ({err})") \
                from err
        if not token:
            raise ConfigError(f"server.token_file: {server.token_file} is empty")
        return token.splitlines()[0].strip()
    if server.token_env is not None:
        token = os.environ.get(server.token_env, "").strip()
        if not token:
            raise ConfigError(
                f"server.token_env: the environment variable {server.token_env} is unset or empty"
            )
        return token
    return None


# Keys a YAML entry must give even where the dataclass has a default: a model entry names
# itself and its weights (the CLI's ModelSpec may default both to the built-in model).
REQUIRED_KEYS: dict[type, frozenset[str]] = {ModelSpec: frozenset({"name", "source"})}


class _Parser:
    """Converts composed YAML nodes into the dataclasses above, remembering where each was."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._scalars = SafeConstructor()

    def fail(self, node: yaml.Node | None, key: str, problem: str) -> typing.NoReturn:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        where = f" {key}:" if key else ""
        raise ConfigError(f"{self.source}{line}:{where} {problem}")

    def compose(self, text: str) -> yaml.MappingNode:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            line = f":{mark.line + 1}" if mark else ""
            raise ConfigError(f"{self.source}{line}: invalid YAML: {err.problem}") from err
        except yaml.YAMLError as err:
            raise ConfigError(f"{self.source}: invalid YAML: {err}") from err
        if root is None:
            self.fail(None, "", "the file is empty (it needs at least `models:`)")
        if not isinstance(root, yaml.MappingNode):
            self.fail(root, "", "the top level must be a mapping with `models:`")
        return root

    def daemon_config(self, root: yaml.MappingNode) -> DaemonConfig:
        entries = self.mapping(root, "", {"server", "models", "routes"})
        server = self.dataclass(ServerConfig, entries["server"], "server") \
            if "server" in entries else ServerConfig()
        if "models" not in entries:
            self.fail(root, "models", "missing: list at least one model")
        models = self.sequence(entries["models"], "models", ModelSpec)
        if not models:
            self.fail(entries["models"], "models", "list at least one model")
        by_name: dict[str, int] = {}
        for i, (model, node) in enumerate(models):
            if model.quantization is not None:
                try:
                    parse_recipe(model.quantization)
                except CodegendError as err:
                    self.fail(_child(node, "quantization"), f"models[{i}].quantization", str(err))
            if model.name in by_name:
                first = by_name[model.name]
                self.fail(_child(node, "name"), f"models[{i}].name",
                          f"duplicate model name {model.name!r} (also models[{first}])")
            by_name[model.name] = i
        if "routes" in entries:
            routes = self.sequence(entries["routes"], "routes", RouteConfig)
        else:  # no routes: the first model serves every language
            routes = [(RouteConfig(model=models[0][0].name), root)]
        for i, (route, node) in enumerate(routes):
            if route.model not in by_name:
                self.fail(_child(node, "model"), f"routes[{i}].model",
                          f"no model named {route.model!r} (models: {', '.join(by_name)})")
        if not server.is_loopback and server.token_file is None and server.token_env is None:
            self.fail(entries.get("server"), "server.host",
                      f"binding to {server.host} (not loopback) requires a bearer token: "
                      "set server.token_file or server.token_env")
        return DaemonConfig(server, tuple(m for m, _ in models), tuple(r for r, _ in routes))

    def mapping(self, node: yaml.Node, key: str, allowed: set[str]) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, key, f"expected a mapping, got {_describe(node)}")
        entries: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            full = f"{key}.{name}" if key else str(name)
            if name not in allowed:
                self.fail(key_node, full, f"unknown key (allowed: {', '.join(sorted(allowed))})")
            if name in entries:
                self.fail(key_node, full, "duplicate key")
            entries[name] = value_node
        return entries

    def sequence(self, node: yaml.Node, key: str, cls: type) -> list[tuple[Any, yaml.Node]]:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, key, f"expected a list, got {_describe(node)}")
        return [(self.dataclass(cls, item, f"{key}[{i}]"), item)
                for i, item in enumerate(node.value)]

    def dataclass(self, cls: type, node: yaml.Node, key: str) -> Any:
        hints = typing.get_type_hints(cls)
        specs = {f.name: f for f in fields(cls) if f.name != "path"}
        entries = self.mapping(node, key, set(specs))
        values = {}
        required = REQUIRED_KEYS.get(cls, frozenset())
        for name, spec in specs.items():
            if name not in entries:
                if name in required or (
                        spec.default is MISSING and spec.default_factory is MISSING):
                    self.fail(node, f"{key}.{name}", "missing (required)")
                continue
            values[name] = self.value(entries[name], f"{key}.{name}", hints[name], spec.metadata)
        return cls(**values)

    def value(self, node: yaml.Node, key: str, hint: Any, limits: Any) -> Any:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (typing.Union, types.UnionType) and type(None) in args:
            if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
                return None
            (inner,) = [a for a in args if a is not type(None)]
            return self.value(node, key, inner, limits)
        if origin is tuple:
            if isinstance(node, yaml.ScalarNode):  # `languages: python` means [python]
                return (self.value(node, key, args[0], limits),)
            if not isinstance(node, yaml.SequenceNode):
                self.fail(node, key, f"expected a list, got {_describe(node)}")
            return tuple(self.value(item, f"{key}[{i}]", args[0], limits)
                         for i, item in enumerate(node.value))
        raw = self.scalar(node, key)
        if origin is Literal:
            if raw not in args:
                self.fail(node, key, f"{raw!r} is not one of {', '.join(map(str, args))}")
            return raw
        if hint is bool:
            if not isinstance(raw, bool):
                self.fail(node, key, f"expected true or false, got {raw!r}")
            return raw
        if hint in (int, float):
            ok = isinstance(raw, int) or (hint is float and isinstance(raw, float))
            if isinstance(raw, bool) or not ok:
                self.fail(node, key, f"expected {'an integer' if hint is int else 'a number'}, "
                                     f"got {raw!r}")
            low, high = limits.get("min"), limits.get("max")
            if (low is not None and raw < low) or (high is not None and raw > high):
                span = f">= {low}" if high is None else f"between {low} and {high}"
                self.fail(node, key, f"{raw} is out of range (must be {span})")
            return hint(raw)
        if hint in (str, Path):
            if not isinstance(raw, str) or not raw.strip():
                self.fail(node, key, f"expected a non-empty string, got {raw!r}")
            return Path(raw) if hint is Path else raw
        raise AssertionError(f"unsupported config type {hint!r} for {key}")

    def scalar(self, node: yaml.Node, key: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, key, f"expected a single value, got {_describe(node)}")
        try:
            return self._scalars.construct_object(node)
        except ConstructorError as err:
            self.fail(node, key, f"unreadable value ({err.problem})")


def _child(node: yaml.Node, name: str) -> yaml.Node:
    """The value node of ``name`` in a mapping node (the node itself if it has none)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == name:
                return value_node
    return node


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "nothing" if node.tag == "tag:yaml.org,2002:null" else repr(node.value)
