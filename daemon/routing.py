"""Which model serves a document: the first route whose languages and file globs match.

A route with neither languages nor globs is a fallback and matches everything; routes are
tried in the order the YAML lists them, so a fallback belongs last. Without a fallback, a
language no route names gets no model (:class:`NoRoute`), except a request that says nothing
about its document (an OpenAI client naming no model), which gets the first model.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import PurePath

from codegend.daemon.client_api import NoRoute
from codegend.daemon.config import DaemonConfig, RouteConfig

# The LSP language id of a file, by suffix, for the languages the built-in models serve: for
# callers that have a file but no editor to name its language (the command line, benches).
LANGUAGE_OF_SUFFIX = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascriptreact",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "typescriptreact",
    ".vue": "vue",
}


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
    if not language and path is None and config.models:
        return config.models[0].name
    where = f" ({path})" if path else ""
    raise NoRoute(
        f"no model serves {language or 'this document'}{where}: route it to a model in the "
        "config file (`routes:`), or add a fallback route (`- {model: NAME}`)"
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
