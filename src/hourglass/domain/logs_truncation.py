"""The per-job size cap: keep the head and the tail, replace the middle by one `system` line.

`TruncationPolicy` is a small state machine the log writer drives with every captured batch:

- HEAD phase: while the job's text fits in the first half of the cap, `admit` hands batches
  straight back, and the writer numbers and stores them at once (readers see them live).
- TAIL phase: from the first line that would not fit in the head, lines go into a ring of at most
  `cap - cap // 2` bytes (whole lines; the oldest are dropped first) and `admit` returns nothing.
  They cannot be numbered yet: how many lines of the middle will be dropped is unknown until the
  end.
- `finish()` at the end of the job returns what to store after the head: the omission line
  (`… N lines (M bytes) omitted …`, stream `system`, stamped like the last omitted line) if anything
  was dropped, then the ring. The writer numbers them as usual, so stored sequence numbers stay
  1..N with no gap: the omission line takes one number and the tail follows it.

If the whole output fits in the cap, nothing is dropped and no omission line is written; the
lines after the head still wait for `finish()` because until the job ends any of them may yet be
dropped. Bytes are those of the stored text (message + `\\n`), after masking and the line cap; the
omission line itself is not counted. The ring lives in the worker's memory (≤ cap/2), so a worker
that dies in the TAIL phase loses the buffered tail — the price of never renumbering stored lines.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum

from hourglass.domain.logs_lines import DEFAULT_CAP_BYTES, LineBatch, Stream


class Phase(StrEnum):
    HEAD = "head"
    TAIL = "tail"
    DONE = "done"


def omission_message(lines: int, nbytes: int) -> str:
    """The text of the line that stands for the dropped middle of a log."""
    noun = "line" if lines == 1 else "lines"
    return f"… {lines} {noun} ({nbytes} bytes) omitted …"


class TruncationPolicy:
    """Decides, batch by batch, which lines of a job are stored now, later, or never."""

    def __init__(self, cap_bytes: int = DEFAULT_CAP_BYTES, *, stored_bytes: int = 0) -> None:
        """`stored_bytes`: text the job already has in the store (e.g. from an earlier worker)."""
        if cap_bytes < 2:
            raise ValueError("cap_bytes must be at least 2")
        self.cap_bytes = cap_bytes
        self.head_cap = cap_bytes // 2
        self.tail_cap = cap_bytes - self.head_cap
        self.head_bytes = stored_bytes
        self.phase = Phase.HEAD if stored_bytes < self.head_cap else Phase.TAIL
        self.omitted_lines = 0
        self.omitted_bytes = 0
        self._ring: deque[LineBatch] = deque()
        self._ring_bytes = 0
        self._last_dropped: LineBatch | None = None

    @property
    def truncated(self) -> bool:
        """Whether lines have been dropped (the job's `log_state` becomes `truncated`)."""
        return self.omitted_lines > 0

    @property
    def buffered_bytes(self) -> int:
        """Tail bytes held in memory, waiting for `finish()`."""
        return self._ring_bytes

    def admit(self, batch: LineBatch | None) -> LineBatch | None:
        """The part of `batch` to store now (None if none); the rest is kept for the tail."""
        if batch is None or not batch.count:
            return None
        if self.phase is Phase.DONE:
            raise RuntimeError("the log was already finished")
        if self.phase is Phase.HEAD:
            room = self.head_cap - self.head_bytes
            if len(batch.text) <= room:
                self.head_bytes += len(batch.text)
                return batch
            self.phase = Phase.TAIL
            cut = batch.text.rfind(b"\n", 0, room) + 1
            if cut:
                head, rest = batch.split_at(cut)
                self.head_bytes += cut
                self._to_tail(rest)
                return head
        self._to_tail(batch)
        return None

    def finish(self) -> list[LineBatch]:
        """What to store after the head, in order: the omission line if any, then the tail."""
        if self.phase is Phase.DONE:
            return []
        self.phase = Phase.DONE
        out: list[LineBatch] = []
        last = self._last_dropped
        if last is not None:
            message = omission_message(self.omitted_lines, self.omitted_bytes).encode("utf-8")
            out.append(LineBatch(Stream.SYSTEM, message + b"\n", 1, last.ts_us, last.attempt))
        out.extend(self._ring)
        self._ring.clear()
        self._ring_bytes = 0
        return out

    def _to_tail(self, batch: LineBatch) -> None:
        if not batch.count:
            return
        self._ring.append(batch)
        self._ring_bytes += len(batch.text)
        while self._ring_bytes > self.tail_cap:
            excess = self._ring_bytes - self.tail_cap
            oldest = self._ring[0]
            if len(oldest.text) <= excess:
                self._drop(self._ring.popleft())
                continue
            # Drop the fewest whole lines that cover the excess: up to the end of the line
            # holding its last byte.
            cut = oldest.text.find(b"\n", excess - 1) + 1
            dropped, kept = oldest.split_at(cut)
            self._drop(dropped)
            if kept.count:
                self._ring[0] = kept
            else:
                self._ring.popleft()

    def _drop(self, batch: LineBatch) -> None:
        self._ring_bytes -= len(batch.text)
        self.omitted_lines += batch.count
        self.omitted_bytes += len(batch.text)
        self._last_dropped = batch
