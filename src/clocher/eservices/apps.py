"""E-services audit: the communes' public websites, mail domains and addresses, checked
the way a CERT would, only once the operator has confirmed the commune owns them."""

from django.apps import AppConfig


class EservicesConfig(AppConfig):
    name = "clocher.eservices"
    label = "eservices"
    verbose_name = "Audit des e-services"

    def ready(self) -> None:
        from clocher.eservices import hooks  # noqa: F401 - registers the scheduler and tile
