from django.db import migrations, models

# The indexes the admin's audit list, dashboard and run page use (docs/dashboard.md shows
# their plans on 1,000,000 rows). The single-column indexes of the filtered columns give way
# to (column, created_at) ones, which serve the same lookups and also read a filtered list's
# newest rows in order.
#
# Done in SQL rather than by AlterField: SQLite would rebuild the ledger's table to drop an
# index, and the rebuild loses the append-only trigger of 0015. On PostgreSQL the indexes
# are built CONCURRENTLY (the ledger takes inserts while they build: atomic = False) and
# IF NOT EXISTS, so a large deployment can build them by hand first, at a time it chooses.
# The covering index exists on PostgreSQL only and in no model state (see AuditEvent.Meta).
TABLE = "ormai_django_auditevent"
OLD = {
    "error_code": "ormai_django_auditevent_error_code_2565dd8f",
    "model": "ormai_django_auditevent_model_90253e66",
    "outcome": "ormai_django_auditevent_outcome_990d09b4",
    "principal": "ormai_django_auditevent_principal_4467884d",
    "run_id": "ormai_django_auditevent_run_id_bdb2d000",
    "tenant_id": "ormai_django_auditevent_tenant_id_fa501eeb",
    "tool": "ormai_django_auditevent_tool_4030b0b6",
}
NEW = {
    "ormai_audit_outcome_time": '("outcome", "created_at")',
    "ormai_audit_tool_time": '("tool", "created_at")',
    "ormai_audit_model_time": '("model", "created_at")',
    "ormai_audit_error_time": '("error_code", "created_at")',
    "ormai_audit_tenant_time": '("tenant_id", "created_at")',
    "ormai_audit_run_time": '("run_id", "tenant_id", "created_at")',
}
COVERING = (
    "ormai_audit_time_covering",
    '("created_at") INCLUDE ("outcome", "tool", "principal", "model", "error_code")',
)


def create_indexes(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    concurrently = "CONCURRENTLY " if postgres else ""
    new = dict(NEW)
    if postgres:  # SQLite has no INCLUDE; it reads created_at's own index
        new[COVERING[0]] = COVERING[1]
    for name, columns in new.items():
        schema_editor.execute(
            f'CREATE INDEX {concurrently}IF NOT EXISTS "{name}" ON "{TABLE}" {columns}'
        )
    for name in OLD.values():
        schema_editor.execute(f'DROP INDEX {concurrently}IF EXISTS "{name}"')
        if postgres:
            schema_editor.execute(f'DROP INDEX {concurrently}IF EXISTS "{name}_like"')


def restore_indexes(apps, schema_editor):
    for column, name in OLD.items():
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{TABLE}" ("{column}")')
    for name in (*NEW, COVERING[0]):
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ormai_django", "0015_audit_sqlite_guard"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='auditevent',
                    name='error_code',
                    field=models.CharField(blank=True, max_length=64),
                ),
                migrations.AlterField(
                    model_name='auditevent',
                    name='model',
                    field=models.CharField(blank=True, max_length=200),
                ),
                migrations.AlterField(
                    model_name='auditevent',
                    name='outcome',
                    field=models.CharField(choices=[('ok', 'ok'), ('dry_run', 'dry run'), ('pending_approval', 'pending approval'), ('denied', 'denied'), ('error', 'error')], max_length=20),
                ),
                migrations.AlterField(
                    model_name='auditevent',
                    name='principal',
                    field=models.CharField(max_length=200),
                ),
                migrations.AlterField(
                    model_name='auditevent',
                    name='run_id',
                    field=models.CharField(blank=True, max_length=200),
                ),
                migrations.AlterField(
                    model_name='auditevent',
                    name='tenant_id',
                    field=models.CharField(blank=True, max_length=64),
                ),
                migrations.AlterField(
                    model_name='auditevent',
                    name='tool',
                    field=models.CharField(max_length=64),
                ),
                migrations.AddIndex(
                    model_name='auditevent',
                    index=models.Index(fields=['outcome', 'created_at'], name='ormai_audit_outcome_time'),
                ),
                migrations.AddIndex(
                    model_name='auditevent',
                    index=models.Index(fields=['tool', 'created_at'], name='ormai_audit_tool_time'),
                ),
                migrations.AddIndex(
                    model_name='auditevent',
                    index=models.Index(fields=['model', 'created_at'], name='ormai_audit_model_time'),
                ),
                migrations.AddIndex(
                    model_name='auditevent',
                    index=models.Index(fields=['error_code', 'created_at'], name='ormai_audit_error_time'),
                ),
                migrations.AddIndex(
                    model_name='auditevent',
                    index=models.Index(fields=['tenant_id', 'created_at'], name='ormai_audit_tenant_time'),
                ),
                migrations.AddIndex(
                    model_name='auditevent',
                    index=models.Index(fields=['run_id', 'tenant_id', 'created_at'], name='ormai_audit_run_time'),
                ),
            ],
            database_operations=[migrations.RunPython(create_indexes, restore_indexes)],
        ),
    ]
