"""The write tools: ``db.create``, ``db.update``, ``db.delete``.

Every write is explained (a reason), bounded (writable fields, budgets, blast
radius), previewable (dry run), retry-safe (idempotency keys) and recorded like a
ledger (before/after of every row touched, history rows, one audit row), all in
one transaction.
"""
