from django.db import migrations

# PostgreSQL refuses UPDATE and DELETE on the ledger in the database itself.
# (TRUNCATE, which test teardown uses, stays possible for the table's owner.)
CREATE_TRIGGER = """
CREATE OR REPLACE FUNCTION ormai_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ormai_django audit events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ormai_audit_append_only
    BEFORE UPDATE OR DELETE ON ormai_django_auditevent
    FOR EACH ROW EXECUTE FUNCTION ormai_audit_append_only();
"""
DROP_TRIGGER = """
DROP TRIGGER IF EXISTS ormai_audit_append_only ON ormai_django_auditevent;
DROP FUNCTION IF EXISTS ormai_audit_append_only();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_TRIGGER, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("ormai_django", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="auditevent",
            options={
                "base_manager_name": "objects",
                "ordering": ("-created_at", "-id"),
                "verbose_name": "audit event",
            },
        ),
        migrations.RunPython(create_trigger, drop_trigger),
    ]
