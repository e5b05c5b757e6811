"""The built-in retention table for communes (the operator edits it in its console).

Durations (DUA) and final fates follow the instruction DAF/DPACI/RES/2009/018 of
28 August 2009 (« tri et conservation des archives produites par les communes et
structures intercommunales dans leurs domaines d'activité spécifiques », France Archives),
the Code du patrimoine (art. L212-11 and L213-2) for civil status, and the public
procurement code for contracts. Each commune checks its table with its Archives
départementales: this one is a starting point, not a legal opinion.
"""

from django.db import migrations

INSTRUCTION = "Instruction DAF/DPACI/RES/2009/018 du 28 août 2009"
RULES = [
    # code, label, years (None = unlimited), starts from, fate, source
    ("deliberations", "Délibérations du conseil municipal", None, "date de l'acte", "keep",
     f"{INSTRUCTION} ; CGCT art. L2121-23"),
    ("proces-verbaux-conseil", "Procès-verbaux des séances du conseil municipal", None,
     "date de la séance", "keep", f"{INSTRUCTION} ; CGCT art. L2121-15"),
    ("arretes", "Arrêtés du maire", None, "date de l'acte", "keep", INSTRUCTION),
    ("decisions-delegation", "Décisions du maire par délégation du conseil (CGCT L2122-22)",
     None, "date de l'acte", "keep", INSTRUCTION),
    ("etat-civil-naissances-mariages", "État civil : actes de naissance et de mariage", 75,
     "clôture du registre", "keep", "Code du patrimoine art. L213-2 (délai de 75 ans)"),
    ("etat-civil-registres", "État civil : registres et tables décennales", 100,
     "clôture du registre", "keep",
     "Code du patrimoine art. L212-11 (dépôt aux Archives départementales après 100 ans)"),
    ("budgets-comptes", "Budgets, comptes administratifs et comptes de gestion", None,
     "exercice", "keep", INSTRUCTION),
    ("urbanisme-autorisations", "Permis de construire, d'aménager et de démolir", None,
     "date de la décision", "keep", INSTRUCTION),
    ("elections-proces-verbaux", "Procès-verbaux des élections", None, "date du scrutin",
     "keep", INSTRUCTION),
    ("marches-publics", "Marchés publics : pièces du marché attribué", 10,
     "notification (réception pour les travaux)", "sort",
     f"{INSTRUCTION} ; code de la commande publique"),
    ("marches-offres-non-retenues", "Marchés publics : offres non retenues", 5,
     "notification du marché", "destroy", f"{INSTRUCTION} ; code de la commande publique"),
    ("contrats-conventions", "Contrats et conventions (hors marchés publics)", 10,
     "fin du contrat", "destroy", INSTRUCTION),
    ("pieces-comptables", "Pièces justificatives comptables (mandats, titres)", 10,
     "fin de l'exercice", "destroy", INSTRUCTION),
]  # fmt: skip


def seed(apps, schema_editor):
    rule = apps.get_model("archive", "RetentionRule")
    for code, label, years, starts_from, fate, source in RULES:
        rule.objects.update_or_create(
            code=code,
            defaults={
                "label": label,
                "years": years,
                "starts_from": starts_from,
                "final_fate": fate,
                "source": source,
                "builtin": True,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("archive", "0002_write_once_triggers")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
