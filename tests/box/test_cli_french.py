"""`clocher-box --help` and its errors in French, click's own words included."""

from __future__ import annotations

import re

import click
from click.testing import CliRunner

from clocher_box.cli import main
from clocher_box.clickfr import french_error

ENGLISH = ("Usage:", "Options:", "Commands:", "Show this", "[default", "[required", "Error:")


def test_every_help_is_in_french():
    runner = CliRunner()
    assert isinstance(main, click.Group)
    for path in [[], *([name] for name in main.commands)]:
        result = runner.invoke(main, [*path, "--help"], prog_name="clocher-box")
        assert result.exit_code == 0, (path, result.output)
        assert result.output.startswith("Utilisation : clocher-box"), (path, result.output)
        assert "Affiche cette aide et quitte." in result.output
        for word in ENGLISH:
            assert word not in result.output, (path, word, result.output)
        assert not re.search(r"\b(TEXT|DIRECTORY|FLOAT|PATH)\b", result.output), result.output


def test_errors_are_in_french(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(main, ["enroll", "--token", "clb_x"], prog_name="clocher-box")
    assert missing.exit_code == 2
    assert "Essayez « clocher-box enroll --help » pour l'aide." in missing.output
    assert "Erreur : Option « --server » manquante." in missing.output
    refused = runner.invoke(main, ["unblock", "192.0.2.7", "--state-dir", str(tmp_path)])
    assert refused.exit_code == 1
    assert "Erreur : 192.0.2.7 n'est pas bloquée par une décision" in refused.output
    for word in ENGLISH:
        assert word not in missing.output + refused.output


def test_unknown_messages_pass_through():
    assert (
        french_error("Missing option '-o' / '--output'.") == "Option « -o / --output » manquante."
    )
    assert french_error("quelque chose d'autre") == "quelque chose d'autre"
