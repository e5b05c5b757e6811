from django.apps import AppConfig


class GroupwareConfig(AppConfig):
    name = "clocher.groupware"
    label = "groupware"
    verbose_name = "Agendas et carnets d'adresses"
