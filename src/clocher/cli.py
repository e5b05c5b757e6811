"""The `clocher` command: init, serve, worker, check, and each app's commands.

Django is set up before any sub-command runs; commands stay thin and call services.
Their help is in French, click's own words included (`clocher_box.clickfr`).
"""

from __future__ import annotations

import os
import sys

import click

from clocher_box.clickfr import FrenchGroup, speak_french


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clocher.settings")
    import django

    django.setup()


class ClocherGroup(FrenchGroup):
    """Loads the app command groups lazily so `--help` works before Django is set up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)

    _loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        setup_django()
        from clocher.accounts.cli import register as register_accounts
        from clocher.api.cli import register as register_api
        from clocher.archive.cli import register as register_archive
        from clocher.awareness.cli import register as register_awareness
        from clocher.core.cli import register as register_core
        from clocher.energy.cli import register as register_energy
        from clocher.eservices.cli import register as register_eservices
        from clocher.finance.cli import register as register_finance
        from clocher.forecast.cli import register as register_forecast
        from clocher.governance.cli import register as register_governance
        from clocher.groupware.cli import register as register_groupware
        from clocher.incidents.cli import register as register_incidents
        from clocher.mail.cli import register as register_mail
        from clocher.onboarding.cli import register as register_onboarding
        from clocher.operations.cli import register as register_operations
        from clocher.shield.cli import register as register_shield
        from clocher.supervision.cli import register as register_supervision
        from clocher.vault.cli import register as register_vault

        for register in (
            register_core,
            register_accounts,
            register_onboarding,
            register_api,
            register_mail,
            register_vault,
            register_shield,
            register_archive,
            register_energy,
            register_forecast,
            register_finance,
            register_supervision,
            register_incidents,
            register_operations,
            register_awareness,
            register_groupware,
            register_eservices,
            register_governance,
        ):
            register(self)
        speak_french(self)


@click.group(cls=ClocherGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="clocher", message="clocher %(version)s")
def main() -> None:
    """Clocher : le cloud public local du département pour ses communes."""


if __name__ == "__main__":
    sys.exit(main())
