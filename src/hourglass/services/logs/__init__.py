"""Job logs as use cases: writing a job's output, and every way of reading it back.

The path of one line, and the module here that owns each step (the pure rules are
`domain.logs`, the queries `store.logs`)::

    worker output ─→ writer: LogOutputs/JobLog — capture → cap → chunk (domain.logs) → a queue
                        │     → one task commits chunks (fenced by the lease) → bus wake-up
                        └─ cap: CapKeeper — the per-job cap applied in those transactions
                                   │
                          store.logs.writes
                                   │
       ┌──────────────────┬────────┴─────────┬─────────────────────┬──────────────────────┐
    page               search             download              live (SSE)            retention
    pages.page         pages.search       reads.LogReads        reads.LogReads        sweep_expired
      └─ scan: the window of a log read     └─ download: the     └─ live: backlog,
         out of its chunks (page arithmetic,   bytes (txt/jsonl/    then wake-ups;
         stream plans, the search scan)        json, ranges)        tail: shared live edge

- `access`: 404 then 412, the checks every log route makes before parsing its parameters;
- `params`: the query parameters every log route shares, parsed the same way everywhere;
- `pages`: `GET …/logs` and `…/logs/search` (parameters, cursors, the page object);
- `scan`: reading a window of sequence numbers out of the chunks: pages, stream filters, search;
- `formats`: what download and SSE bytes look like (formats, JSON entries, SSE frames, errors);
- `reads`: `LogReads`, the per-process batch reader behind the two streamed routes;
- `download`: the bytes of `GET …/logs/raw`; `live`: the frames of `GET …/events`;
- `tail`: `LiveTails`, one store read per flush however many live readers follow a job;
- `writer`: `LogOutputs`/`JobLog`, what a worker's output becomes in the store;
- `cap`: `CapKeeper`, where the per-job cap is applied (trim, omission line, seal);
- `retention`: the sweep that deletes expired logs;
- `summary`: `LogSummaries`, `GET …/logs/summary` for the log viewer (the first error, the
  attempts, a capped log's gap), a bounded scan kept per finished job;
- `service`: `LogService`, the page/search/retention/writer use cases under one name.

The web layer imports this package, never `store.logs` (import-linter holds it to that).
"""
