from django.apps import AppConfig


class ShieldConfig(AppConfig):
    name = "clocher.shield"
    label = "shield"
    verbose_name = "Bouclier (boîtiers de sécurité)"
