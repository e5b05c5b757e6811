"""Write once, in the database itself: whatever the interface (ORM, raw SQL, a shell),
a sealed object's columns cannot change, an object is never deleted, its retention can
only grow, elimination before the end of retention is refused, and the journal and its
seals are append-only. SQLite and PostgreSQL triggers say the same thing."""

from django.db import migrations

SEALED = [
    "commune_id", "title", "kind", "act_date", "author", "filename", "sha256", "sha512",
    "size", "puid", "blob_key", "timestamp_token", "timestamp_at", "deposited_at",
]  # fmt: skip
OBJECTS = "archive_archivedobject"
APPEND_ONLY = {
    "archive_journalentry": "journal en ajout seul",
    "archive_journalseal": "sceaux en ajout seul",
}


def _refused_update(new: str, old: str, today: str, differ: str) -> str:
    """The condition under which an UPDATE of an archived object is refused."""
    sealed = " OR ".join(f"{new}.{c} {differ} {old}.{c}" for c in SEALED)
    return (
        f"({sealed})"
        f" OR ({old}.retention_end IS NULL AND {new}.retention_end IS NOT NULL)"
        f" OR ({new}.retention_end IS NULL AND {new}.final_fate <> 'keep')"
        f" OR ({new}.retention_end < {old}.retention_end)"
        f" OR ({new}.final_fate <> {old}.final_fate AND {new}.final_fate <> 'keep')"
        f" OR ({old}.state = 'eliminated' AND {new}.state <> 'eliminated')"
        f" OR ({new}.state = 'eliminated' AND {old}.state = 'sealed'"
        f" AND ({new}.retention_end IS NULL OR {new}.retention_end >= {today}))"
    )


SQLITE_TODAY = "date('now')"
SQLITE_UP = [
    f"CREATE TRIGGER archive_object_no_delete BEFORE DELETE ON {OBJECTS} "
    "BEGIN SELECT RAISE(ABORT, 'archive : un objet archivé ne se supprime pas'); END",
    f"CREATE TRIGGER archive_object_write_once BEFORE UPDATE ON {OBJECTS} "
    f"WHEN {_refused_update('NEW', 'OLD', SQLITE_TODAY, 'IS NOT')} "
    "BEGIN SELECT RAISE(ABORT, 'archive : objet scellé, modification refusée'); END",
] + [
    f"CREATE TRIGGER {table}_append_only_{op.lower()} BEFORE {op} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, 'archive : {message}'); END"
    for table, message in APPEND_ONLY.items()
    for op in ("UPDATE", "DELETE")
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS archive_object_no_delete",
    "DROP TRIGGER IF EXISTS archive_object_write_once",
] + [
    f"DROP TRIGGER IF EXISTS {table}_append_only_{op.lower()}"
    for table in APPEND_ONLY
    for op in ("UPDATE", "DELETE")
]

PG_UP = [
    "CREATE OR REPLACE FUNCTION archive_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION USING ERRCODE = '23000', MESSAGE = 'archive : ' || TG_ARGV[0]; END $$",
    "CREATE OR REPLACE FUNCTION archive_object_write_once() RETURNS trigger LANGUAGE plpgsql "
    f"AS $$ BEGIN IF {_refused_update('NEW', 'OLD', 'CURRENT_DATE', 'IS DISTINCT FROM')} THEN "
    "RAISE EXCEPTION USING ERRCODE = '23000', "
    "MESSAGE = 'archive : objet scellé, modification refusée'; END IF; RETURN NEW; END $$",
    f"CREATE TRIGGER archive_object_no_delete BEFORE DELETE ON {OBJECTS} FOR EACH ROW "
    "EXECUTE FUNCTION archive_refuse('un objet archivé ne se supprime pas')",
    f"CREATE TRIGGER archive_object_write_once BEFORE UPDATE ON {OBJECTS} FOR EACH ROW "
    "EXECUTE FUNCTION archive_object_write_once()",
] + [
    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW "
    f"EXECUTE FUNCTION archive_refuse('{message}')"
    for table, message in APPEND_ONLY.items()
]
PG_DOWN = [
    f"DROP TRIGGER IF EXISTS archive_object_no_delete ON {OBJECTS}",
    f"DROP TRIGGER IF EXISTS archive_object_write_once ON {OBJECTS}",
    *(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}" for table in APPEND_ONLY),
    "DROP FUNCTION IF EXISTS archive_object_write_once()",
    "DROP FUNCTION IF EXISTS archive_refuse()",
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("archive", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": PG_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": PG_DOWN}),
        )
    ]
