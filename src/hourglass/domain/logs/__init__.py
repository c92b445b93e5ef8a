"""The job-log domain: what happens to a line between a pipe and a reader, with no I/O.

The rules of "The path of one log line" (docs/design.md) and "Job logs" (docs/api.md) that need
no store, clock or network. The path of one line, and the module here that owns each step::

    stdout/stderr block ─→ capture ─→ cap ─→ chunks ─→ (store)
                             │          │       │
      LineSplitter: split, cut long     │     ChunkBuilder: number (seq), pack ~64 KiB
      lines, mask secrets (`capture`)   │     chunks: text + run-length meta (`chunks`)
                                        │
                   TruncationPolicy: head or tail line; CapState: what a capped log keeps (`cap`)

    (store) ─→ read: page / tail / live ─→ decode_chunk, stream_text (`chunks`)
                     search             ─→ LogQuery, compile_query, search_chunk (`search`)
                     download           ─→ render_txt, strip_ansi, parse_json_message (`render`)

- `lines`: the values everything above shares: `Stream`, `LineBatch` (captured lines as bytes),
  `LogLine` (a decoded line), epoch-microsecond time stamps, the default limits;
- `capture`: raw blocks in, clean lines out (`LineSplitter`, `SecretMasker`);
- `cap`: the per-job size cap (`CapLimits`, `TruncationPolicy`, `CapState`, the omission line);
- `chunks`: the chunk row format and its codec (`Chunk`, `ChunkBuilder`, `decode_chunk`);
- `search`: query semantics and the C-speed whole-chunk matchers;
- `render`: how stored lines look to a reader (plain-text download, ANSI, JSON messages);
- `summary`: where a log says what went wrong (error-like lines, the first error, attempts and
  the gap from chunk meta), for the log viewer's summary.

The hot paths work on whole blocks of bytes with C-speed `bytes`/`str`/`re` calls and make no
Python object per line; time stamps are parameters (epoch microseconds), never read here.
Writer loop, in short (`services.logs.writer` runs it)::

    batch = splitter.feed(stream, data, ts_us)         # per pipe read (or splitter.lines(...))
    head, tail = policy.admit(batch)                   # a first tail part: close the head chunk
    chunks = builder.add(head) + builder.add(tail)     # store each, then publish its last_seq
    chunk = builder.flush()                            # on the ~50 ms timer
    # past the cap the writer trims the stored tail and keeps `CapState.omission(...)`

The store side is `store.logs` (writes, reads, retention), the use cases `services.logs`.
"""
