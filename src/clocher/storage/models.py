"""The storage layer's one table: each commune's data key, wrapped by the master key."""

from __future__ import annotations

from django.db import models

from clocher.core.models import Commune


class DataKey(models.Model):
    """The commune's AES-256 data key, wrapped (AES-GCM) by the master key; rotating the
    master key re-wraps these rows, never the data. The table keeps the name it had in
    the vault, where it was made (the archive and the mail import use the key too)."""

    commune = models.OneToOneField(Commune, on_delete=models.CASCADE, related_name="data_key")
    wrapped = models.BinaryField()
    master_key_id = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "vault_datakey"

    def __str__(self) -> str:
        return f"clé de {self.commune}"
