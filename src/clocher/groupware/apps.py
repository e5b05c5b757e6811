from django.apps import AppConfig


class GroupwareConfig(AppConfig):
    name = "clocher.groupware"
    label = "groupware"
    verbose_name = "Agendas et carnets d'adresses"

    def ready(self) -> None:
        from clocher.groupware.webmail import hooks, views  # noqa: F401 - registers php-fpm, logout
