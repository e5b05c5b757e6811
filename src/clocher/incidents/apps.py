"""Crisis: the incident register, the notice to affected communes, the CNIL draft."""

from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "clocher.incidents"
    label = "incidents"
    verbose_name = "Incidents"
