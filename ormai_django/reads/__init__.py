"""The read tools: ``db.describe``, ``db.query``, ``db.get``, ``db.aggregate``, and
``approval.status`` (a read of the caller's own held calls).

Each starts from the rows the context may see (tenant, soft delete), narrows them with the
compiled ``where``, and returns JSON with denied fields absent and masked fields masked.
"""
