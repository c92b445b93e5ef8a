"""Job logs in the store: the only place log rows are written, read and deleted.

One table, `log_chunks`: a row per writer flush, keyed `(job_id, first_seq)`, holding the exact
download bytes of its lines (`text`) and their packed time stamps, streams and attempts (`meta`;
the format is `domain.logs.chunks`). The job row carries the totals and the cap state. The path
of one line through the store, and the module that owns each step::

    capture → chunk (domain.logs) ─→ writes: insert_chunks (fenced by the lease, idempotent),
                                     the cap's trim / omission line / seal, the totals
                                        │
        ┌────────────────────┬─────────┴──────────┬──────────────────────┐
    reads: page          reads: search        reads: download        reads: tail / live
    readable_page        stream_chunks        chunks_after,          chunks_after
    (one statement)      (server-side cursor) chunk_heads/chunks_at,
                                              first_seq_at_offset
                                        │
                          retention: expire, delete in batches

- `writes`: inserting chunks, the per-job totals, the cap state and its trim/seal statements;
- `reads`: every read, each a range of the `(job_id, first_seq)` key;
- `retention`: expiring and deleting logs.
"""
