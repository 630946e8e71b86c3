"""Processing stored webhook bodies.

- `batch`: every entry, change and item of one body, each in its own savepoint.
- `summaries`: readable one-line summaries of inbound message types.
- `platform`: non-message changes stored once for the notifications work.
"""
