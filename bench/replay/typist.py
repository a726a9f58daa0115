"""A stretch of a file as the keystrokes an editor would send while a person types it.

Like VS Code with its defaults, an opening bracket or quote typed where the next character
is whitespace, the end of the line or a closer inserts its closer too (never inside strings
or comments, and a quote never right after a word character), and typing a closer the editor
inserted steps over it. A line break moves what follows the cursor to the new line; the
editor's own auto-indentation is left out, since the file's indentation is typed.
Only brackets and quotes whose partner is in the stretch are auto-closed, so each inserted
closer is stepped over before the stretch ends and the document becomes the file again.

Pauses between keystrokes follow a seeded log-normal typing speed, with longer pauses at line
ends (reading back) and, now and then, between words (thinking): ghost text only appears
where a person pauses long enough for it.
"""

from __future__ import annotations

import io
import math
import random
import tokenize
from dataclasses import dataclass

from bench.replay.held_out import Stretch

OPENERS = {"(": ")", "[": "]", "{": "}"}
QUOTES = {"python": "'\"", "javascript": "'\"`", "typescript": "'\"`"}
AUTO_CLOSE_BEFORE = frozenset(";:.,=}])> \n\t")  # VS Code's default autoCloseBefore
REGEX_AFTER = frozenset("(,=:[!&|?{};+-*%<>~^")  # a / after these starts a JS regex literal


@dataclass(frozen=True)
class Pauses:
    cps: float = 6.0  # median typing speed, characters per second; 0: wait for each answer
    jitter: float = 0.5  # sigma of the log-normal spread of one keystroke's interval
    line_pause_s: float = 0.8  # median extra pause after a line break
    word_pause_s: float = 0.3  # median extra pause between words, when one is taken
    word_share: float = 0.2  # the share of word ends followed by such a pause
    seed: int = 0

    def series(self, text: str) -> list[float | None]:
        """The pause after each character of ``text`` (None: wait for the answer)."""
        if self.cps <= 0:
            return [None] * len(text)
        rng = random.Random(self.seed)
        pauses: list[float | None] = []
        for i, ch in enumerate(text):
            pause = rng.lognormvariate(math.log(1 / self.cps), self.jitter)
            if ch == "\n":
                pause += rng.lognormvariate(math.log(self.line_pause_s), 0.5)
            elif i and text[i - 1].isalnum() and not ch.isalnum():
                if rng.random() < self.word_share:
                    pause += rng.lognormvariate(math.log(self.word_pause_s), 0.5)
            pauses.append(pause)
        return pauses


@dataclass(frozen=True)
class Keystroke:
    char: str  # the file's character typed
    at: int  # document offset where the edit starts
    removed: int  # characters the edit replaces (1 when stepping over an inserted closer)
    inserted: str  # what the edit inserts (the character, perhaps with its closer)
    typed: int  # characters of the stretch typed once this keystroke is done
    pending: str  # closers the editor inserted that still follow the cursor
    pause_s: float | None  # before the next keystroke; None: wait for the answer


@dataclass(frozen=True)
class Script:
    stretch: Stretch
    before: str
    typed: str
    after: str
    keystrokes: tuple[Keystroke, ...]
    cleanup: str  # inserted closers never stepped over (deleted at the end; ideally "")

    def document(self, k: int) -> str:
        """The document after keystroke ``k`` (-1: as opened)."""
        typed, pending = (0, "") if k < 0 else (self.keystrokes[k].typed,
                                                  self.keystrokes[k].pending)
        return self.before + self.typed[:typed] + pending + self.after

    def cursor(self, k: int) -> int:
        """The cursor's document offset after keystroke ``k``."""
        return len(self.before) + (0 if k < 0 else self.keystrokes[k].typed)


def _python_pairs(text: str) -> dict[int, int]:
    starts = [0]
    for line in text.splitlines(True):
        starts.append(starts[-1] + len(line))
    pairs: dict[int, int] = {}
    stack: list[tuple[int, str]] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            (row, col), (end_row, end_col) = token.start, token.end
            offset = starts[row - 1] + col
            if token.type == tokenize.OP and token.string in OPENERS:
                stack.append((offset, token.string))
            elif token.type == tokenize.OP and token.string in OPENERS.values():
                if stack and OPENERS[stack[-1][1]] == token.string:
                    pairs[stack.pop()[0]] = offset
            elif token.type == tokenize.STRING and row == end_row and \
                    token.string[0] in "'\"" and not token.string.startswith(("'''", '"""')):
                pairs[offset] = starts[end_row - 1] + end_col - 1
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # pairs found up to there still hold
    return pairs


def _js_pairs(text: str) -> dict[int, int]:
    pairs: dict[int, int] = {}
    stack: list[int] = []
    previous = ""  # the last character of code, to tell a regex literal from a division
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        is_regex = ch == "/" and (previous == "" or previous in REGEX_AFTER)
        if ch in "'\"`" or is_regex:
            j, in_class = i + 1, False
            while j < n and (text[j] != ch or in_class) and (ch == "`" or text[j] != "\n"):
                if text[j] == "\\":
                    j += 1
                elif is_regex and text[j] in "[]":
                    in_class = text[j] == "["
                j += 1
            if j < n and text[j] == ch and not is_regex and "\n" not in text[i:j]:
                pairs[i] = j
            previous, i = ch, j + 1
            continue
        if ch in OPENERS:
            stack.append(i)
        elif ch in OPENERS.values() and stack and OPENERS[text[stack[-1]]] == ch:
            pairs[stack.pop()] = i
        if not ch.isspace():
            previous = ch
        i += 1
    return pairs


def auto_close_pairs(source: str, language: str, start: int, end: int) -> dict[int, int]:
    """Opening bracket or quote -> its partner, as offsets into [start, end) of ``source``
    (the whole file, so the scan starts outside any string), both inside that range."""
    pairs = _python_pairs(source) if language == "python" else _js_pairs(source)
    return {a - start: b - start for a, b in pairs.items() if start <= a < b < end}


def type_stretch(stretch: Stretch, pauses: Pauses) -> Script:
    before, typed, after = stretch.parts()
    pairs = auto_close_pairs(before + typed + after, stretch.language,
                             len(before), len(before) + len(typed))
    quotes = QUOTES.get(stretch.language, "'\"")
    keystrokes = []
    pending = ""
    for i, (ch, pause) in enumerate(zip(typed, pauses.series(typed), strict=True)):
        at = len(before) + i
        if pending and pending[0] == ch:
            keystrokes.append(Keystroke(ch, at, 1, ch, i + 1, pending[1:], pause))
            pending = pending[1:]
            continue
        following = pending[0] if pending else "\n"
        preceding = typed[i - 1] if i else (before[-1:] or "\n")
        closes = i in pairs and following in AUTO_CLOSE_BEFORE and (
            ch in OPENERS or (ch in quotes and not (preceding.isalnum() or preceding == "_")))
        inserted = ch + typed[pairs[i]] if closes else ch
        pending = inserted[1:] + pending
        keystrokes.append(Keystroke(ch, at, 0, inserted, i + 1, pending, pause))
    return Script(stretch, before, typed, after, tuple(keystrokes), pending)
