from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "clocher.api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from clocher.api import schema  # noqa: F401 - registers the OpenAPI auth schemes
