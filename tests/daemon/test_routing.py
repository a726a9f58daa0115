"""Routing: first matching route wins; languages, globs and the fallback."""

from __future__ import annotations

import pytest

from codegend.daemon.config import default_config, parse_config
from codegend.daemon.routing import NoRoute, glob_matches, languages_of, pick_model

CONFIG = parse_config("""\
models:
  - {name: py, source: x}
  - {name: tests, source: x}
  - {name: docs, source: x}
  - {name: any, source: x}
routes:
  - {languages: [python], files: ["tests/*.py", "test_*.py"], model: tests}
  - {languages: [Python, cython], model: py}
  - {files: ["*.md", "docs/**/*.rst"], model: docs}
  - {model: any}
""")


@pytest.mark.parametrize("language, path, model", [
    ("python", "/w/proj/src/app.py", "py"),
    ("python", None, "py"),
    ("PYTHON", None, "py"),
    ("cython", "/w/a.pyx", "py"),
    ("python", "/w/proj/tests/test_app.py", "tests"),
    ("python", "C:\\w\\proj\\tests\\test_app.py", "tests"),
    ("python", "/w/proj/test_top.py", "tests"),
    ("markdown", "/w/proj/README.md", "docs"),
    ("restructuredtext", "/w/proj/docs/api/index.rst", "docs"),
    ("restructuredtext", "/w/proj/docs/index.rst", "docs"),
    ("restructuredtext", "/w/proj/notes/index.rst", "any"),
    ("rust", "/w/main.rs", "any"),
    ("", None, "any"),
])
def test_the_first_matching_route_picks_the_model(language, path, model):
    assert pick_model(CONFIG, language, path) == model


def test_without_a_fallback_an_unrouted_language_is_a_clear_error():
    config = parse_config("models:\n  - {name: py, source: x}\nroutes:\n"
                          "  - {languages: [python], model: py}\n")
    assert pick_model(config, "python") == "py"
    with pytest.raises(NoRoute, match="no model serves go: route it .*fallback route"):
        pick_model(config, "go")
    with pytest.raises(NoRoute, match=r"no model serves this document \(/w/notes.txt\)"):
        pick_model(config, "", "/w/notes.txt")
    # A request that says nothing of its document (an OpenAI client naming no model).
    assert pick_model(config, "") == "py"


def test_the_builtin_config_routes_python_and_the_web_languages_and_nothing_else():
    config = default_config()
    assert pick_model(config, "python", "/w/app.py") == "tiny-py"
    for language in ("javascript", "javascriptreact", "typescript", "typescriptreact", "vue"):
        assert pick_model(config, language) == "tiny-web"
    with pytest.raises(NoRoute, match="no model serves rust"):
        pick_model(config, "rust", "/w/main.rs")
    assert languages_of(config, "tiny-web") == ("javascript", "javascriptreact", "typescript",
                                                "typescriptreact", "vue")


def test_glob_rules():
    assert glob_matches("/a/b/c.py", "*.py")
    assert not glob_matches("/a/b/c.pyi", "*.py")
    assert glob_matches("/a/src/x/y.ts", "src/**/*.ts")
    assert glob_matches("/a/src/y.ts", "src/**/*.ts")
    assert not glob_matches("/a/lib/y.ts", "src/**/*.ts")
    assert glob_matches("/a/b/c.py", "**/*.py")


def test_languages_of_lists_what_each_model_serves():
    assert languages_of(CONFIG, "py") == ("Python", "cython")
    assert languages_of(CONFIG, "any") == ("*",)
