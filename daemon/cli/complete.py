"""`codegend complete`: one completion of a file position or of stdin, printed alone on stdout."""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from codegend.daemon.cli.model_arguments import add_model_arguments, model_spec
from codegend.engine.errors import CodegendError
from codegend.engine.model_spec import BACKENDS

MAX_INPUT_BYTES = 8 * 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--backend", default="onnx", choices=BACKENDS,
                        help="onnx (default), torch (the transformers reference), torch-tp")
    parser.add_argument("--world-size", type=int, default=None, help="ranks for torch-tp")
    parser.add_argument("--max-new-tokens", type=int, default=64, metavar="N")
    parser.add_argument("--greedy", action="store_true", help="deterministic greedy decoding")
    parser.add_argument("--temperature", type=float, default=0.2)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--stop", action="append", default=[], metavar="TEXT",
                        help="stop before this text (repeatable)")
    parser.add_argument("--line", action="store_true", help="complete the current line only")
    parser.add_argument("--no-token-healing", dest="token_healing", action="store_false",
                        help="continue the prompt's last token as it is, even when the text "
                             "ends inside a word or after a space")
    parser.add_argument("target", nargs="?", metavar="FILE[:LINE:COL]",
                        help="complete FILE at 1-based LINE and COL (end of file if omitted); "
                             "stdin when no FILE is given")


@dataclass(frozen=True)
class Target:
    path: Path
    line: int | None  # 1-based
    column: int | None  # 1-based, in characters


def parse_target(text: str) -> Target:
    match = re.fullmatch(r"(.+):(\d+):(\d+)", text)
    if match and not Path(text).exists():
        return Target(Path(match[1]), int(match[2]), int(match[3]))
    return Target(Path(text), None, None)


def read_source(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CodegendError(f"{path}: no such file") from None
    except OSError as err:
        raise CodegendError(f"{path}: cannot read ({err.strerror})") from None
    return decode_source(data, str(path))


def decode_source(data: bytes, where: str) -> str:
    if len(data) > MAX_INPUT_BYTES:
        raise CodegendError(f"{where}: {len(data)} bytes is larger than the "
                            f"{MAX_INPUT_BYTES} bytes codegend completes")
    if b"\0" in data:
        raise CodegendError(f"{where}: binary content (NUL bytes); not completing it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CodegendError(f"{where}: not UTF-8 text (byte {err.start})") from None


def split_at(text: str, line: int | None, column: int | None, where: str) -> tuple[str, str]:
    """The text before and after 1-based (line, column); all of it before when no position
    is given."""
    if line is None:
        return text, ""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        raise CodegendError(f"{where}: line {line} is outside the file (1..{len(lines)})")
    current = lines[line - 1]
    if not 1 <= column <= len(current) + 1:
        raise CodegendError(
            f"{where}:{line}: column {column} is outside the line (1..{len(current) + 1})"
        )
    before = "\n".join(lines[: line - 1] + [current[: column - 1]])
    return before, text[len(before):]


def builtin_model_for(path: Path) -> str:
    """The built-in model the default config routes ``path``'s language to."""
    from codegend.daemon.config import default_config
    from codegend.daemon.routing import LANGUAGE_OF_SUFFIX, pick_model

    language = LANGUAGE_OF_SUFFIX.get(path.suffix.lower())
    if language is None:
        raise CodegendError(f"{path}: no built-in model completes {path.suffix or 'these'} "
                            "files; name one with --model")
    config = default_config()
    model = config.model(pick_model(config, language))
    assert model is not None  # the built-in routes name the built-in models
    return model.source


def run(args: argparse.Namespace) -> int:
    from codegend.engine.loader import load_generator
    from codegend.engine.types import PromptParts, SamplingParams

    suffix = ""
    if args.target:
        target = parse_target(args.target)
        prefix, suffix = split_at(read_source(target.path), target.line, target.column,
                                  str(target.path))
        args.model = args.model or builtin_model_for(target.path)
    else:
        prefix = decode_source(sys.stdin.buffer.read(), "stdin")
    spec = model_spec(args, backend=args.backend, world_size=args.world_size,
                      max_new_tokens=args.max_new_tokens)
    try:
        params = SamplingParams(
            max_new_tokens=args.max_new_tokens,
            temperature=0.0 if args.greedy else args.temperature,
            top_p=args.top_p, seed=args.seed, stop=tuple(args.stop), stop_at_newline=args.line,
            token_healing=args.token_healing,
        )
    except ValueError as err:
        raise CodegendError(str(err)) from None
    generator = load_generator(spec)
    try:
        # A model with a fill-in-the-middle template sees the code after the position too.
        parts = PromptParts(prefix, suffix, document_start=True)  # a whole file's start
        for token in generator.generate(parts, params):
            sys.stdout.write(token.text)
            sys.stdout.flush()
    finally:
        generator.close()
    sys.stdout.write("\n")
    return 0
