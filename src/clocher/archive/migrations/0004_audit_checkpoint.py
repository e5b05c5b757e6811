"""Audit checkpoints (issue 14), append-only in the database like the journal and its
seals (the same `archive_refuse()` function on PostgreSQL, see 0002)."""

from django.db import migrations, models

TABLE = "archive_auditcheckpoint"
MESSAGE = "points de contrôle en ajout seul"
UP = {
    "sqlite": [
        f"CREATE TRIGGER {TABLE}_append_only_{op.lower()} BEFORE {op} ON {TABLE} "
        f"BEGIN SELECT RAISE(ABORT, 'archive : {MESSAGE}'); END"
        for op in ("UPDATE", "DELETE")
    ],
    "postgresql": [
        f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} FOR EACH ROW "
        f"EXECUTE FUNCTION archive_refuse('{MESSAGE}')"
    ],
}
DOWN = {
    "sqlite": [
        f"DROP TRIGGER IF EXISTS {TABLE}_append_only_{op.lower()}" for op in ("UPDATE", "DELETE")
    ],
    "postgresql": [f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}"],
}


def _run(statements):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("archive", "0003_builtin_retention_rules"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("last_seq", models.PositiveBigIntegerField()),
                ("chain_hash", models.CharField(max_length=64)),
                ("last_object_id", models.PositiveBigIntegerField()),
                ("copies", models.PositiveBigIntegerField()),
                ("copies_digest", models.CharField(max_length=64)),
                ("at", models.DateTimeField()),
                ("prev_hash", models.CharField(max_length=64)),
                ("hash", models.CharField(max_length=64, unique=True)),
                ("timestamp_token", models.BinaryField()),
            ],
            options={
                "ordering": ["id"],
            },
        ),
        migrations.RunPython(_run(UP), _run(DOWN)),
    ]
