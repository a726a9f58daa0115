"""Which model serves a document: the first route whose languages and file globs match.

A route with neither languages nor globs is a fallback and matches everything; routes are
tried in the order the YAML lists them, so a fallback belongs last.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import PurePath

from codegend.daemon.config import DaemonConfig, RouteConfig
from codegend.engine.errors import CodegendError


class NoRoute(CodegendError):
    """No route matches the document and the config has no fallback route."""


def route_matches(route: RouteConfig, language: str, path: str | None) -> bool:
    if route.languages and language.lower() not in (lang.lower() for lang in route.languages):
        return False
    if route.files:
        return path is not None and any(glob_matches(path, glob) for glob in route.files)
    return True


def glob_matches(path: str, glob: str) -> bool:
    """``*.py`` matches by file name anywhere; a glob with a slash matches the path's tail.

    ``fnmatch``'s ``*`` also crosses slashes, so ``tests/*.py`` and ``src/**/*.ts`` both do
    what a user expects without a separate ``**`` implementation.
    """
    posix = PurePath(path.replace("\\", "/")).as_posix()
    if "/" not in glob:
        return fnmatchcase(PurePath(posix).name, glob)
    glob = glob.removeprefix("./").removeprefix("**/")
    variants = {glob, glob.replace("/**/", "/")}  # `**/` also matches no folder at all
    return any(fnmatchcase(posix, v) or fnmatchcase(posix, "*/" + v) for v in variants)


def pick_model(config: DaemonConfig, language: str, path: str | None = None) -> str:
    """The name of the model that serves ``language`` (and ``path``) under ``config``."""
    for route in config.routes:
        if route_matches(route, language, path):
            return route.model
    raise NoRoute(
        f"no route serves language {language or '(none)'!r}"
        + (f" for {path}" if path else "")
        + "; add a fallback route (`- {model: NAME}`) to the config"
    )


def languages_of(config: DaemonConfig, model: str) -> tuple[str, ...]:
    """The languages routed to ``model`` ("*" when a fallback or glob-only route uses it)."""
    found: list[str] = []
    for route in config.routes:
        if route.model != model:
            continue
        for language in route.languages or ("*",):
            if language not in found:
                found.append(language)
    return tuple(found)
