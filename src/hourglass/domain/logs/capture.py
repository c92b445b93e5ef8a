"""Capture: raw output blocks in, clean numbered-to-be lines out (`LineSplitter`, `SecretMasker`).

Rules (API.md "Job logs"): split on `\\n`; drop one trailing `\\r`; keep empty lines; a final
line without `\\n` is emitted by `flush()`; a line longer than the limit keeps its first `limit`
bytes (cut on a UTF-8 character boundary) plus a marker, the rest of that line is skipped and the
stream goes on after its `\\n`; secret values become `***`; the stored text is always valid UTF-8.

Everything works on whole blocks with `bytes` methods (`rfind`, `replace`, `count`), never per
character and never per line, so a 64 KiB read costs a handful of C calls. Bytes stay bytes: text is
decoded only to check it (and repaired with U+FFFD only when it is not valid UTF-8).
"""

from __future__ import annotations

from collections.abc import Iterable

from hourglass.domain.logs.lines import DEFAULT_LINE_LIMIT, LineBatch, Stream

MASK = b"***"
TRUNCATION_MARK = " …[line truncated: {n} bytes omitted]"


class SecretMasker:
    """Replaces every occurrence of every secret value with `***`.

    A secret that spans lines cannot be matched inside one line, so each of its lines is masked as
    a secret of its own (what CI systems do for PEM keys): over-masking beats leaking. Empty and
    whitespace-only values (and lines of values) are ignored. Where occurrences of different
    secrets overlap, their union is masked, so no fragment of either survives.
    """

    __slots__ = ("_needles", "max_len")

    def __init__(self, secrets: Iterable[str]) -> None:
        parts: set[bytes] = set()
        for secret in secrets:
            for part in secret.split("\n"):
                part = part.removesuffix("\r")
                if part.strip():
                    parts.add(part.encode("utf-8", "replace"))
        # Longest first: the first needle found wins the fast single-replace path below.
        self._needles: tuple[bytes, ...] = tuple(sorted(parts, key=lambda p: (-len(p), p)))
        self.max_len = len(self._needles[0]) if self._needles else 0

    def __bool__(self) -> bool:
        return bool(self._needles)

    def mask(self, text: str) -> str:
        """`text` with every secret replaced by `***`."""
        return self.mask_bytes(text.encode("utf-8", "surrogatepass")).decode("utf-8", "replace")

    def mask_bytes(self, text: bytes) -> bytes:
        """UTF-8 `text` (any number of whole lines) with every secret replaced by `***`."""
        found = [n for n in self._needles if n in text]
        if not found:
            return text
        if len(found) == 1 and not _self_overlaps(found[0]):
            return text.replace(found[0], MASK)
        return _mask_union(text, found)

    def safe_cut(self, line: bytes, cut: int) -> int:
        """The largest cut `<= cut` that does not fall inside an occurrence of a secret."""
        moved = True
        while moved:
            moved = False
            for needle in self._needles:
                size = len(needle)
                at = line.find(needle, max(0, cut - size + 1), cut + size - 1)
                if 0 <= at < cut:
                    cut, moved = at, True
        return cut


def _self_overlaps(needle: bytes) -> bool:
    # `bytes.replace` skips occurrences that overlap an earlier one ("aa" in "aaa" leaves an "a").
    return any(needle[:k] == needle[-k:] for k in range(1, len(needle)))


def _mask_union(text: bytes, needles: list[bytes]) -> bytes:
    spans: list[tuple[int, int]] = []
    for needle in needles:
        at = text.find(needle)
        while at >= 0:
            spans.append((at, at + len(needle)))
            at = text.find(needle, at + 1)
    spans.sort()
    out: list[bytes] = []
    done = 0
    start, end = spans[0]
    for s, e in spans[1:]:
        if s < end:
            end = max(end, e)
            continue
        out += (text[done:start], MASK)
        done, start, end = end, s, e
    out += (text[done:start], MASK, text[end:])
    return b"".join(out)


def valid_utf8(text: bytes) -> bytes:
    """`text` if it is valid UTF-8, else with each invalid sequence replaced by U+FFFD."""
    if text.isascii():
        return text
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return text.decode("utf-8", "replace").encode("utf-8")
    return text


def cut_long_line(line: bytes, total: int, limit: int, masker: SecretMasker | None) -> bytes:
    """The kept, masked head of an over-long line plus the marker saying how much was cut.

    `line` holds at least `limit + max secret length` bytes of the line (or all of it) and
    `total` is the line's full length; the cut backs off to a character start and to before any
    secret that straddles it, so no fragment of a secret is ever kept unmasked.
    """
    cut = limit
    # A UTF-8 character is at most 4 bytes: back off over at most 3 continuation bytes.
    for _ in range(3):
        if cut > 0 and 0x80 <= line[cut] < 0xC0:
            cut -= 1
    kept = line[:cut]
    if masker is not None:
        cut = masker.safe_cut(line, cut)
        kept = masker.mask_bytes(line[:cut])
    return kept + TRUNCATION_MARK.format(n=total - cut).encode("utf-8")


def clean_lines(region: bytes, limit: int, masker: SecretMasker | None) -> bytes:
    """Whole lines (`region` ends with `\\n`): CRLF → LF, long lines cut, secrets masked."""
    if b"\r" in region:
        region = region.replace(b"\r\n", b"\n")
    if len(region) > limit + 1:
        return _cap_lines(region, limit, masker)
    return masker.mask_bytes(region) if masker is not None else region


def _cap_lines(region: bytes, limit: int, masker: SecretMasker | None) -> bytes:
    pieces: list[bytes] = []
    pos = done = 0
    size = len(region)
    while pos < size:
        # The last `\n` within limit+1 bytes ends a run of lines that all fit: jump past it, so a
        # block costs about len/limit calls, not one per line.
        last = region.rfind(b"\n", pos, pos + limit + 1)
        if last >= 0:
            pos = last + 1
            continue
        end = region.find(b"\n", pos)
        if done < pos:
            span = region[done:pos]
            pieces.append(masker.mask_bytes(span) if masker is not None else span)
        pieces += (cut_long_line(region[pos:end], end - pos, limit, masker), b"\n")
        pos = done = end + 1
    if not pieces:
        return masker.mask_bytes(region) if masker is not None else region
    if done < size:
        span = region[done:]
        pieces.append(masker.mask_bytes(span) if masker is not None else span)
    return b"".join(pieces)


class _Partial:
    """What one stream has read past its last `\\n`."""

    __slots__ = ("cr", "head", "parts", "read_us", "size", "total")

    def __init__(self) -> None:
        self.parts: list[bytes] = []  # pieces of a line not yet ended (joined once, at its \n)
        self.read_us = 0  # when the latest piece of the unfinished line was read
        self.size = 0
        self.head: bytes | None = None  # set while skipping the rest of an over-long line
        self.total = 0
        self.cr = False


class LineSplitter:
    """Turns the raw output blocks of one attempt into `LineBatch`es of complete, clean lines.

    Feed each read as it arrives with the time it was read; each stream keeps its own partial line,
    so interleaved stdout/stderr blocks never mix. Memory per stream is bounded by about
    `line_limit` whatever the input: the rest of an over-long line is counted, not kept.
    """

    def __init__(
        self,
        *,
        attempt: int = 1,
        line_limit: int = DEFAULT_LINE_LIMIT,
        masker: SecretMasker | None = None,
    ) -> None:
        if line_limit < 1:
            raise ValueError("line_limit must be positive")
        self.attempt = attempt
        self.line_limit = line_limit
        self._masker = masker if masker else None
        # Bytes of an unfinished line worth keeping: the limit, room to see a secret straddling
        # the cut, and a possible `\r`.
        self._keep = line_limit + (masker.max_len if masker else 0) + 4
        self._partials: dict[Stream, _Partial] = {}

    @property
    def pending_bytes(self) -> int:
        """Bytes held for lines not yet ended (all streams)."""
        return sum(p.size + len(p.head or b"") for p in self._partials.values())

    def feed(self, stream: Stream, data: bytes, ts_us: int) -> LineBatch | None:
        """The lines `data` completes on `stream` (None if it completes none)."""
        if not data:
            return None
        part = self._partials.get(stream)
        if part is None:
            part = self._partials[stream] = _Partial()
        out: list[bytes] = []
        start = 0
        if part.head is not None:
            newline = data.find(b"\n")
            if newline < 0:
                self._skip(part, data)
                return None
            self._skip(part, data[:newline])
            out.append(self._end_long(part))
            start = newline + 1
        last = data.rfind(b"\n", start)
        part.read_us = ts_us
        if last < 0:
            self._hold(part, data[start:] if start else data)
        else:
            if part.size:
                region = b"".join([*part.parts, memoryview(data)[start : last + 1]])
                part.parts, part.size = [], 0
            elif start == 0 and last == len(data) - 1:
                region = data
            else:
                region = data[start : last + 1]
            out.append(clean_lines(region, self.line_limit, self._masker))
            if last + 1 < len(data):
                self._hold(part, data[last + 1 :])
        return self._batch(stream, out, ts_us)

    def flush(self, ts_us: int, stream: Stream | None = None) -> list[LineBatch]:
        """End of stream(s): the final line of each stream that did not end with `\\n`.

        Such a line is stamped with the time its last piece was read (`ts_us` if unknown).
        """
        batches: list[LineBatch] = []
        for name in [stream] if stream is not None else list(self._partials):
            part = self._partials.get(name)
            if part is None:
                continue
            if part.head is not None:
                text = self._end_long(part)
            elif part.size:
                region = b"".join([*part.parts, b"\n"])
                part.parts, part.size = [], 0
                text = clean_lines(region, self.line_limit, self._masker)
            else:
                continue
            batch = self._batch(name, [text], part.read_us or ts_us)
            if batch is not None:
                batches.append(batch)
        return batches

    def lines(self, stream: Stream, messages: Iterable[str], ts_us: int) -> LineBatch | None:
        """Whole messages (e.g. the runtime's `system` lines) under the same rules as output."""
        items = list(messages)
        if not items:
            return None
        region = "\n".join(items).encode("utf-8", "replace") + b"\n"
        return self._batch(stream, [clean_lines(region, self.line_limit, self._masker)], ts_us)

    def _batch(self, stream: Stream, out: list[bytes], ts_us: int) -> LineBatch | None:
        text = out[0] if len(out) == 1 else b"".join(out)
        if not text:
            return None
        text = valid_utf8(text)
        return LineBatch(stream, text, text.count(b"\n"), ts_us, self.attempt)

    def _hold(self, part: _Partial, piece: bytes) -> None:
        part.parts.append(piece)
        part.size += len(piece)
        if part.size > self._keep:
            line = b"".join(part.parts)
            part.parts, part.size = [], 0
            part.head, part.total, part.cr = line[: self._keep], 0, False
            self._skip(part, line)

    def _skip(self, part: _Partial, piece: bytes) -> None:
        if piece:
            part.total += len(piece)
            part.cr = piece[-1] == 0x0D

    def _end_long(self, part: _Partial) -> bytes:
        assert part.head is not None
        total = part.total - (1 if part.cr else 0)
        text = cut_long_line(part.head, total, self.line_limit, self._masker) + b"\n"
        part.head, part.total, part.cr = None, 0, False
        return text
