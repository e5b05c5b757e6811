"""DataKey now belongs to the storage layer (clocher.storage), which the archive and
the mail import use as well; its table `vault_datakey` is kept as is."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('vault', '0006_upload_session_space'),
        ('storage', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='DataKey')],
            database_operations=[],
        ),
    ]
