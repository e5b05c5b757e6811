"""DataKey moves from the vault to the storage layer: the table stays where it is
(`vault_datakey`), only Django's record of which app owns the model changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('core', '0001_initial'),
        ('vault', '0006_upload_session_space'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='DataKey',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('wrapped', models.BinaryField()),
                        ('master_key_id', models.CharField(max_length=16)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('commune', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='data_key', to='core.commune')),
                    ],
                    options={'db_table': 'vault_datakey'},
                ),
            ],
            database_operations=[],
        ),
    ]
