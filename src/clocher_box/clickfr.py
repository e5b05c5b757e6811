"""Click's own words in French, for `clocher-box` and `clocher` alike.

Click writes « Usage: », « Options: », « Show this message and exit. », « [default: …] »
and type names (TEXT, INTEGER, FILE…) in English. `speak_french(command)` gives that
command and every sub-command under it a context whose help formatter writes them in
French. The root command is a `FrenchGroup`: its errors (« Error: Missing option… »)
are written in French too, the usual messages translated, any other shown as it is.
It imports nothing but click, so the box agent can use it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import IO, Any

import click

USAGE = "Utilisation :"

SECTIONS = {
    "Options": "Options",
    "Commands": "Commandes",
    "Positional arguments": "Arguments",
}

# Phrases click writes in the second column of a help list.
PHRASES = {
    "Show this message and exit.": "Affiche cette aide et quitte.",
    "Show the version and exit.": "Affiche la version et quitte.",
    "[default: ": "[défaut : ",
    "; default: ": " ; défaut : ",
    "[env var: ": "[variable d'environnement : ",
    "[required]": "[obligatoire]",
    "; required]": " ; obligatoire]",
}

# Metavars click derives from a parameter's type, at the end of an option's spec.
METAVARS = {
    "INTEGER RANGE": "ENTIER",
    "FLOAT RANGE": "NOMBRE",
    "TEXT": "TEXTE",
    "INTEGER": "ENTIER",
    "FLOAT": "NOMBRE",
    "BOOLEAN": "BOOLÉEN",
    "FILE": "FICHIER",
    "DIRECTORY": "DOSSIER",
    "PATH": "CHEMIN",
    "FILENAME": "FICHIER",
}
_METAVAR_AT_END = re.compile(r" (" + "|".join(METAVARS) + r")$")

# click's usual error messages, as regular expressions, and their French.
ERRORS = [
    (r"Missing option '(.+)'\.", r"Option « \1 » manquante."),
    (r"Missing argument '(.+?)'\.", r"Argument « \1 » manquant."),
    (r"Missing parameter '(.+?)'\.", r"Paramètre « \1 » manquant."),
    (r"No such command '(.+?)'\.", r"Commande « \1 » inconnue."),
    (r"No such option '(.+?)'\.", r"Option « \1 » inconnue."),
    (r"No such option: (\S+)", r"Option inconnue : \1"),
    (r"Did you mean (\S+)\?", r"Vouliez-vous dire \1 ?"),
    (r"\(Possible options: (.+)\)", r"(options possibles : \1)"),
    (r"Option '(.+?)' requires an argument\.", r"L'option « \1 » demande une valeur."),
    (r"Got unexpected extra arguments? \((.+)\)", r"Argument(s) en trop : \1"),
    (r"Invalid value for '(.+?)': ", r"Valeur invalide pour « \1 » : "),
    (r"Invalid value: ", "Valeur invalide : "),
    (r"'(.*?)' is not one of (.+)\.", r"« \1 » n'est pas l'un de \2."),
    (r"'(.*?)' is not a valid integer( range)?\.", r"« \1 » n'est pas un nombre entier."),
    (r"'(.*?)' is not a valid float( range)?\.", r"« \1 » n'est pas un nombre."),
    (r"(.+) is not in the range (.+)\.", r"\1 n'est pas dans l'intervalle \2."),
    (r"(File|Directory|Path) '(.+?)' does not exist\.", r"« \2 » n'existe pas."),
    (r"(File|Directory|Path) '(.+?)' is a directory\.", r"« \2 » est un dossier."),
    (r"(File|Directory|Path) '(.+?)' is a file\.", r"« \2 » est un fichier."),
]


def french_phrase(text: str) -> str:
    for english, french in PHRASES.items():
        text = text.replace(english, french)
    return text


def french_error(message: str) -> str:
    for english, french in ERRORS:
        message = re.sub(english, french, message)
    return message.replace("' / '", " / ")


def french_spec(spec: str) -> str:
    return _METAVAR_AT_END.sub(lambda match: " " + METAVARS[match.group(1)], spec)


class FrenchFormatter(click.HelpFormatter):
    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        args = args.replace("COMMAND [ARGS]...", "COMMANDE [ARGUMENTS]...")
        super().write_usage(prog, args, f"{USAGE} " if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        self.write(f"{'':>{self.current_indent}}{SECTIONS.get(heading, heading)} :\n")

    def write_dl(
        self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2
    ) -> None:
        french_rows = [(french_spec(spec), french_phrase(text)) for spec, text in rows]
        super().write_dl(french_rows, col_max, col_spacing)


class FrenchContext(click.Context):
    formatter_class = FrenchFormatter


def _commands(command: click.Command) -> Iterable[click.Command]:
    yield command
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from _commands(sub)


def speak_french(command: click.Command) -> None:
    """Help in French for `command` and all its sub-commands (already registered)."""
    for each in _commands(command):
        each.context_class = FrenchContext


class FrenchUsageError(click.UsageError):
    """A usage error, shown in French: usage line, hint, « Erreur : … »."""

    def __init__(self, error: click.UsageError) -> None:
        super().__init__(french_error(error.format_message()), error.ctx)

    def show(self, file: IO[Any] | None = None) -> None:
        if self.ctx is not None:
            hint = f"Essayez « {self.ctx.command_path} --help » pour l'aide."
            click.echo(f"{self.ctx.get_usage()}\n{hint}\n", file=file, err=file is None)
        click.echo(f"Erreur : {self.format_message()}", file=file, err=file is None)


class FrenchClickException(click.ClickException):
    """An error raised by a command with click's exception, shown as « Erreur : … »."""

    def __init__(self, error: click.ClickException) -> None:
        super().__init__(error.format_message())

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"Erreur : {self.format_message()}", file=file, err=file is None)


def _french(error: click.ClickException) -> click.ClickException:
    """The same error shown in French; one that shows itself otherwise (« no arguments:
    the help ») or exits with another code is kept as it is."""
    if isinstance(error, click.UsageError):
        plain = type(error).show is click.UsageError.show
        return FrenchUsageError(error) if plain and error.exit_code == 2 else error
    plain = type(error).show is click.ClickException.show
    return FrenchClickException(error) if plain and error.exit_code == 1 else error


class FrenchGroup(click.Group):
    """The root of a command: French help, and its errors shown in French."""

    context_class = FrenchContext

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.ClickException as error:
            raise _french(error) from error

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as error:
            raise _french(error) from error
