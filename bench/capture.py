"""Micro-benchmark of the pure log-line domain (no I/O): capture, decode, search. Prints JSON.

Capture: 1,000,000 lines of ~100 bytes fed in 64 KiB blocks (one line in ten on stderr) through
`LineSplitter` → `TruncationPolicy` → `ChunkBuilder`, without secrets and with two secrets (one of
them printed on every 1000th line), under a cap the log fits in, and under a 50 MB cap (head
stored, tail ring churning). Decode: a full 64 KiB chunk, and a 100-line page of it. Search:
the whole log's chunk text (~100 MB) scanned with an exact count of matching lines.

Usage: .venv/bin/python bench/capture.py [--lines N]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from hourglass.domain.logs.cap import CapLimits, TruncationPolicy
from hourglass.domain.logs.capture import LineSplitter, SecretMasker
from hourglass.domain.logs.chunks import Chunk, ChunkBuilder, decode_chunk, decode_meta, stream_text
from hourglass.domain.logs.lines import LineBatch, Stream
from hourglass.domain.logs.render import render_txt
from hourglass.domain.logs.search import compile_query, search_chunk

BLOCK = 64 * 1024
ERR = Stream.STDERR
SECRETS = ("s3cr3t-t0ken-value", "p@ssw0rd!")


def make_output(lines: int) -> bytes:
    rows = []
    for i in range(lines):
        extra = f" token={SECRETS[0]}" if i % 1000 == 999 else ""
        rows.append(
            f"2026-01-01T12:00:00.{i % 1000:03d}Z INFO worker-{i % 8} processed item {i:07d} "
            f"in {i % 97}ms status=ok path=/api/v1/items/{i}{extra}\n"
        )
    return "".join(rows).encode()


def blocks_of(lines: int) -> list[tuple[Stream, bytes]]:
    """Every tenth line on stderr; each stream cut into 64 KiB reads, reads interleaved 9:1."""
    err_lines = lines // 10
    out = make_output(lines - err_lines)
    err = make_output(err_lines)
    outs = [out[at : at + BLOCK] for at in range(0, len(out), BLOCK)]
    errs = [err[at : at + BLOCK] for at in range(0, len(err), BLOCK)]
    blocks: list[tuple[Stream, bytes]] = []
    while outs or errs:
        blocks += [(Stream.STDOUT, b) for b in outs[:9]] + [(Stream.STDERR, b) for b in errs[:1]]
        outs, errs = outs[9:], errs[1:]
    return blocks


def capture(
    blocks: list[tuple[Stream, bytes]], secrets: tuple[str, ...], cap: int = 10**9
) -> list[Chunk]:
    masker = SecretMasker(secrets) if secrets else None
    splitter = LineSplitter(masker=masker)
    policy = TruncationPolicy(CapLimits(cap))
    builder = ChunkBuilder()
    chunks: list[Chunk] = []
    ts = 1_767_268_800_000_000

    def admit(batch: LineBatch | None) -> list[Chunk]:
        head, tail = policy.admit(batch)
        return builder.add(head) + builder.add(tail)

    for stream, data in blocks:
        ts += 37
        chunks += admit(splitter.feed(stream, data, ts))
    for batch in splitter.flush(ts):
        chunks += admit(batch)
    last = builder.flush()
    if last is not None:
        chunks.append(last)
    return chunks


def best_of(runs: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def median_us(runs: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1e6, 1)


def bench_capture(lines: int) -> tuple[dict[str, Any], list[Chunk]]:
    blocks = blocks_of(lines)
    figures: dict[str, Any] = {}
    chunks: list[Chunk] = []
    for label, secrets in (("no_secrets", ()), ("two_secrets", SECRETS)):
        seconds, chunks = best_of(3, functools.partial(capture, blocks, secrets))
        assert sum(c.line_count for c in chunks) == lines
        figures[f"capture_{label}_lines_per_s"] = round(lines / seconds)
        figures[f"capture_{label}_ms"] = round(seconds * 1000, 1)
    seconds, truncated = best_of(3, lambda: capture(blocks, (), cap=50_000_000))
    figures["capture_cap_50mb_lines_per_s"] = round(lines / seconds)
    figures["capture_cap_50mb_lines_stored"] = sum(c.line_count for c in truncated)
    figures["text_mb"] = round(sum(len(c.text) for c in chunks) / 1e6, 1)
    figures["chunks"] = len(chunks)
    figures["meta_bytes_per_chunk_avg"] = round(sum(len(c.meta) for c in chunks) / len(chunks), 1)
    figures["stored_bytes_per_text_byte"] = round(
        sum(len(c.text) + len(c.meta) for c in chunks) / sum(len(c.text) for c in chunks), 5
    )
    return figures, chunks


def bench_decode(chunks: list[Chunk]) -> dict[str, Any]:
    # A chunk of the middle of the log holding both streams.
    c = next(
        c for c in chunks[len(chunks) // 2 :] if b"" != stream_text(c.text, c.meta, ERR) != c.text
    )
    full_s, decoded = best_of(20, lambda: decode_chunk(c.first_seq, c.text, c.meta))
    mid = c.first_seq + c.line_count // 2
    end = c.last_seq
    return {
        "decode_full_chunk_lines": len(decoded),
        "decode_full_chunk_us": round(full_s * 1e6, 1),
        "decode_full_lines_per_s": round(len(decoded) / full_s),
        "decode_full_mb_per_s": round(len(c.text) / full_s / 1e6, 1),
        "decode_100_lines_start_us": median_us(
            200, lambda: decode_chunk(c.first_seq, c.text, c.meta, hi=c.first_seq + 99)
        ),
        "decode_100_lines_middle_us": median_us(
            200, lambda: decode_chunk(c.first_seq, c.text, c.meta, lo=mid, hi=mid + 99)
        ),
        "decode_100_lines_end_us": median_us(
            200, lambda: decode_chunk(c.first_seq, c.text, c.meta, lo=end - 99, hi=end)
        ),
        "decode_100_stderr_lines_us": median_us(
            200, lambda: decode_chunk(c.first_seq, c.text, c.meta, stream=ERR)[:100]
        ),
        "decode_chunk_runs": len(decode_meta(c.meta)),
    }


def bench_search(chunks: list[Chunk]) -> dict[str, Any]:
    total = sum(len(c.text) for c in chunks)
    figures: dict[str, Any] = {"search_text_mb": round(total / 1e6, 1)}
    cases = {
        "literal_ci_rare": ("item 0999999", False, False, None),
        "literal_ci_299": ("299", False, False, None),
        "literal_cs_common": ("worker-3", False, True, None),
        "literal_ci_stderr": ("status=OK", False, False, Stream.STDERR),
        "literal_nonascii_ci": ("Größe", False, False, None),
        "regex_prefix": (r"item 09\d+99 ", True, False, None),
        "regex_digits_dense": (r"in \d\dms", True, True, None),
        "regex_alternation_ci": (r"timeout|status=fail|item 00012\d9", True, False, None),
        "regex_no_literal_ci": (r"\d{3}99[5-9] ", True, False, None),
    }
    for name, (q, regex, cs, stream) in cases.items():
        query = compile_query(q, regex=regex, case_sensitive=cs)

        def run(query: Any = query, stream: Any = stream) -> int:
            return sum(
                len(search_chunk(c.first_seq, c.text, c.meta, query, stream=stream)) for c in chunks
            )

        seconds, count = best_of(3, run)
        figures[f"search_{name}"] = {
            "matching_lines": count,
            "ms": round(seconds * 1000, 1),
            "mb_per_s": round(total / seconds / 1e6),
        }
    seconds, _ = best_of(
        3, lambda: [render_txt(c.text, c.meta, stream=Stream.STDERR) for c in chunks]
    )
    figures["render_txt_stderr_mb_per_s"] = round(total / seconds / 1e6)
    seconds, _ = best_of(3, lambda: [render_txt(c.text, c.meta, timestamps=True) for c in chunks])
    figures["render_txt_timestamps_mb_per_s"] = round(total / seconds / 1e6)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    figures, chunks = bench_capture(args.lines)
    figures |= bench_decode(chunks)
    figures |= bench_search(chunks)
    print(json.dumps({"lines": args.lines, **figures}, indent=2))


if __name__ == "__main__":
    main()
