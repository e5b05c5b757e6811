from django.apps import AppConfig


class StorageConfig(AppConfig):
    name = "clocher.storage"
    label = "storage"
    verbose_name = "Stockage chiffré"
