from django.db import migrations

# SQLite refuses UPDATE of the ledger in the database itself, as PostgreSQL's trigger
# (0002) does, so an upsert (INSERT ... ON CONFLICT DO UPDATE) or raw SQL can't rewrite an
# audit row. DELETE stays to the ORM's guards on SQLite: Django's test flush empties tables
# with DELETE there (PostgreSQL's flush uses TRUNCATE, which row triggers don't see).
CREATE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS ormai_audit_append_only_update
BEFORE UPDATE ON ormai_django_auditevent
BEGIN
    SELECT RAISE(ABORT, 'ormai_django audit events are append-only (UPDATE refused)');
END;
"""
DROP_TRIGGER = "DROP TRIGGER IF EXISTS ormai_audit_append_only_update;"


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(CREATE_TRIGGER, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(DROP_TRIGGER, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("ormai_django", "0014_shadow_verdicts"),
    ]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
