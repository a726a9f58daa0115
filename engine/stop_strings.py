"""Stop strings applied to streamed text, never emitting text that belongs to a stop.

Text that could still turn out to be the beginning of a stop string is held back until
the next piece arrives; so a streaming client never sees characters that are later cut.
"""

from __future__ import annotations


class StopMatcher:
    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._pending = ""  # text received but not yet released
        self.stopped_on: str | None = None

    def push(self, text: str) -> str:
        """Add generated text; returns what is now safe to emit. Sets ``stopped_on`` on a hit."""
        if self.stopped_on is not None:
            return ""
        self._pending += text
        hit = self._earliest_stop()
        if hit is not None:
            index, stop = hit
            self.stopped_on = stop
            released, self._pending = self._pending[:index], ""
            return released
        hold = self._longest_partial_stop()
        cut = len(self._pending) - hold
        released, self._pending = self._pending[:cut], self._pending[cut:]
        return released

    def flush(self) -> str:
        """At the end of generation, the held-back text is not a stop after all."""
        released, self._pending = self._pending, ""
        return "" if self.stopped_on is not None else released

    def _earliest_stop(self) -> tuple[int, str] | None:
        found = [(self._pending.find(s), s) for s in self.stops if s in self._pending]
        return min(found) if found else None

    def _longest_partial_stop(self) -> int:
        """Length of the longest suffix of the pending text that starts some stop string."""
        longest = 0
        for stop in self.stops:
            for length in range(min(len(stop) - 1, len(self._pending)), longest, -1):
                if stop.startswith(self._pending[-length:]):
                    longest = length
                    break
        return longest
