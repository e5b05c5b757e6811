"""The article before the operator's name on the home page (the table needs no database)."""

from __future__ import annotations

import pytest

from clocher.core.wording import of_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Département de la Côte-d'Or", "du Département de la Côte-d'Or"),
        ("Côte-d'Or", "de la Côte-d'Or"),
        ("Doubs", "du Doubs"),
        ("Ain", "de l'Ain"),
        ("Yvelines", "des Yvelines"),
        ("Bouches-du-Rhône", "des Bouches-du-Rhône"),
        ("Territoire de Belfort", "du Territoire de Belfort"),
        ("Mayotte", "de Mayotte"),
        ("La Réunion", "de La Réunion"),
        ("Conseil départemental du Doubs", "du Conseil départemental du Doubs"),
        ("Collectivité européenne d'Alsace", "de la Collectivité européenne d'Alsace"),
        ("Région Bourgogne-Franche-Comté", "de la Région Bourgogne-Franche-Comté"),
        ("Le Département", "du Département"),
        ("Les Deux-Sèvres", "des Deux-Sèvres"),
        ("L'Isère numérique", "de L'Isère numérique"),
        ("Atelier numérique 21", "d'Atelier numérique 21"),
        ("Numérique 21", "de Numérique 21"),
        ("  ", ""),
    ],
)
def test_the_article_follows_the_name(name, expected):
    assert of_name(name) == expected


def test_home_page_names_the_operator_with_its_article(operator, client):
    page = client.get("/").content.decode()
    assert "Le cloud public local du Département de la Côte-d&#x27;Or" in page
