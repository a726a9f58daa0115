"""Config validation: every kind of mistake names the key and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegend.daemon.cli.serve import checked_token
from codegend.daemon.config import (
    ConfigError,
    RouteConfig,
    ServerConfig,
    default_config,
    load_config,
    parse_config,
    read_token,
    resolve_config,
)
from codegend.engine.model_spec import ModelSpec

ISSUE_YAML = """\
server: {host: 127.0.0.1, port: 7878}
models:
  - name: default
    source: builtin:tiny-py
    max_new_tokens: 16
routes:
  - {languages: [python], model: default}
  - {model: default}
"""


def test_the_issue_example_loads_exactly_as_written(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text(ISSUE_YAML)
    config = load_config(path)
    assert config.server == ServerConfig(host="127.0.0.1", port=7878)
    assert config.models == (ModelSpec(name="default", source="builtin:tiny-py",
                                       max_new_tokens=16),)
    assert config.routes == (RouteConfig(model="default", languages=("python",)),
                             RouteConfig(model="default"))
    assert config.path == path


def test_every_documented_key_is_read():
    config = parse_config("""\
server:
  host: 127.0.0.1
  port: 0
  token_env: CODEGEND_TOKEN
  max_queue: 4
  max_body_bytes: 65536
  max_prompt_chars: 9000
  max_tokens_limit: 128
  shutdown_timeout_s: 2.5
models:
  - name: big
    source: ~/models/codegen-350M
    backend: onnx
    device: cpu
    quantization: static-int8
    context_tokens: 1024
    max_new_tokens: 48
    threads: 2
    world_size: 2
    allow_download: true
    min_confidence: 0.3
routes:
  - languages: [python, cython]
    files: ["*.pyx", "tests/**/*.py"]
    model: big
""")
    assert config.server == ServerConfig("127.0.0.1", 0, None, "CODEGEND_TOKEN", 4, 65536, 9000,
                                         128, 2.5)
    assert config.models[0] == ModelSpec(
        "big", "~/models/codegen-350M", "onnx", "cpu", "static-int8", 1024, 48, 2, 2, True,
        min_confidence=0.3)
    assert config.routes[0].files == ("*.pyx", "tests/**/*.py")


def test_no_routes_means_the_first_model_serves_everything():
    config = parse_config("models:\n  - {name: one, source: x}\n  - {name: two, source: y}\n")
    assert config.routes == (RouteConfig(model="one"),)
    assert [m.name for m in config.routed_models] == ["one"]


@pytest.mark.parametrize("yaml_text, expected", [
    ("models:\n  - name: a\n    source: x\n    colour: red\n",
     ":4: models[0].colour: unknown key"),
    ("server:\n  host: 127.0.0.1\n  prot: 1\nmodels:\n  - {name: a, source: x}\n",
     ":3: server.prot: unknown key"),
    ("models:\n  - {name: a, source: x}\nextra: 1\n", ":3: extra: unknown key"),
    ("models:\n  - name: a\n    source: x\n    max_new_tokens: lots\n",
     ":4: models[0].max_new_tokens: expected an integer, got 'lots'"),
    ("models:\n  - name: a\n    source: x\n    allow_download: maybe\n",
     ":4: models[0].allow_download: expected true or false"),
    ("models:\n  - name: a\n    source: [x]\n", ":3: models[0].source: expected a single value"),
    ("models:\n  - name: a\n    source: x\n    backend: gpu\n",
     ":4: models[0].backend: 'gpu' is not one of auto, onnx, torch, torch-tp"),
    ("models:\n  - name: a\n    source: x\n    quantization: int3\n",
     ":4: models[0].quantization: unknown quantization 'int3'"),
    ("models:\n  - name: a\n    source: x\n    quantization: int4-weight-only:blocksize=64\n",
     ":4: models[0].quantization:"),
    ("server: {port: 70000}\nmodels:\n  - {name: a, source: x}\n",
     ":1: server.port: 70000 is out of range (must be between 0 and 65535)"),
    ("models:\n  - name: a\n    source: x\n    max_new_tokens: 0\n",
     ":4: models[0].max_new_tokens: 0 is out of range (must be >= 1)"),
    ("models:\n  - name: a\n    source: x\n    min_confidence: 1.5\n",
     ":4: models[0].min_confidence: 1.5 is out of range (must be between 0 and 1)"),
    ("models:\n  - name: a\n", ":2: models[0].source: missing (required)"),
    ("models: {name: a}\n", ":1: models: expected a list, got a mapping"),
    ("models: []\n", ":1: models: list at least one model"),
    ("server: {}\n", ":1: models: missing"),
    ("models:\n  - {name: a, source: x}\n  - {name: a, source: y}\n",
     ":3: models[1].name: duplicate model name 'a' (also models[0])"),
    ("models:\n  - {name: a, source: x}\nroutes:\n  - languages: [python]\n    model: b\n",
     ":5: routes[0].model: no model named 'b' (models: a)"),
    ("models:\n  - {name: a, source: x}\nroutes:\n  - {languages: python, model: a, x: 1}\n",
     ":4: routes[0].x: unknown key"),
    ("models:\n  - name: a\n    name: b\n    source: x\n", ":3: models[0].name: duplicate key"),
    ("server: {host: 0.0.0.0}\nmodels:\n  - {name: a, source: x}\n",
     ":1: server.host: binding to 0.0.0.0 (not loopback) requires a bearer token"),
    ("models:\n  - {name: a, source: x\n", ":3: invalid YAML"),
    ("models:\n\t- a\n", ":2: invalid YAML"),
    ("", "the file is empty"),
    ("- just\n- a list\n", ":1: the top level must be a mapping"),
])
def test_each_mistake_names_its_key_and_line(tmp_path: Path, yaml_text: str, expected: str):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    assert expected in message, message


def test_a_missing_file_says_where_it_looked(tmp_path: Path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


def test_a_single_language_may_be_written_without_brackets():
    config = parse_config("models:\n  - {name: a, source: x}\nroutes:\n"
                          "  - {languages: python, model: a}\n")
    assert config.routes[0].languages == ("python",)


def test_tokens_come_from_a_file_or_the_environment(tmp_path: Path, monkeypatch):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    assert read_token(ServerConfig(token_file=token_file)) == "s3cret"
    monkeypatch.setenv("CODEGEND_TEST_TOKEN", "from-env")
    assert read_token(ServerConfig(token_env="CODEGEND_TEST_TOKEN")) == "from-env"
    assert read_token(ServerConfig()) is None
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="token_file: .* is empty"):
        read_token(ServerConfig(token_file=tmp_path / "empty"))
    monkeypatch.delenv("CODEGEND_TEST_TOKEN")
    with pytest.raises(ConfigError, match="CODEGEND_TEST_TOKEN is unset or empty"):
        read_token(ServerConfig(token_env="CODEGEND_TEST_TOKEN"))


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))
    config = resolve_config(None, host="0.0.0.0")
    with pytest.raises(ConfigError, match="refusing to listen on 0.0.0.0 without a bearer"):
        checked_token(config)
    assert checked_token(resolve_config(None)) is None


def test_without_a_file_the_builtin_models_serve_their_languages(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty-config-home"))
    assert resolve_config(None) == default_config()
    assert [m.source for m in default_config().models] == ["builtin:tiny-py", "builtin:tiny-web"]
    assert not any(route.is_fallback for route in default_config().routes)
    user_file = tmp_path / "empty-config-home" / "codegend" / "config.yaml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text(ISSUE_YAML.replace("16", "12"))
    assert resolve_config(None).models[0].max_new_tokens == 12
