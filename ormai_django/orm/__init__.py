"""ORM helpers that reads, writes and rollback share: values in and out as JSON, the rows a
context may see, the ``where`` compiler, batching, and history rows written in bulk."""
