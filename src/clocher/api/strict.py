"""JSON bodies taken at their word: a value of the wrong JSON type is refused (400).

DRF's fields coerce what they can — `{"name": 0}` becomes the name "0", `{"quota":
"12"}` the number 12, `{"is_active": "non"}`… an error only by luck — so a script's
mistake passes unseen and the OpenAPI document, which says "string" or "integer", is not
what the server does. `StrictSerializer` checks each field's JSON type before DRF's own
validation; form and multipart bodies (all text by nature) are left to the fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import QueryDict
from rest_framework import serializers
from rest_framework.fields import empty

TEXT_FIELDS = (
    serializers.CharField,
    serializers.DateField,
    serializers.DateTimeField,
    serializers.TimeField,
    serializers.UUIDField,
    serializers.DecimalField,  # sent as a string in the schema (COERCE_DECIMAL_TO_STRING)
    serializers.SlugRelatedField,
)


def _choices_are_text(field: serializers.ChoiceField) -> bool:
    return all(isinstance(key, str) for key in field.choices)


def type_problem(field: serializers.Field, value: Any) -> str | None:
    """What is wrong with the JSON type of `value` for `field`, in French; None if fine."""
    if value is None:
        return None  # the field's own allow_null decides
    if isinstance(field, serializers.BooleanField):
        ok, wanted = isinstance(value, bool), "un booléen (true ou false)"
    elif isinstance(field, serializers.IntegerField):
        ok, wanted = isinstance(value, int) and not isinstance(value, bool), "un entier"
    elif isinstance(field, serializers.FloatField):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        wanted = "un nombre"
    elif isinstance(field, serializers.ChoiceField) and not isinstance(
        field, serializers.MultipleChoiceField
    ):
        ok, wanted = (isinstance(value, str) or not _choices_are_text(field)), "un texte"
    elif isinstance(field, TEXT_FIELDS):
        ok, wanted = isinstance(value, str), "un texte"
    elif isinstance(field, serializers.ListField | serializers.ListSerializer):
        if not isinstance(value, list):
            return "Type invalide : une liste est attendue."
        child = getattr(field, "child", None)
        problems = [type_problem(child, item) for item in value] if child is not None else []
        return next((p for p in problems if p), None)
    elif isinstance(field, serializers.DictField | serializers.Serializer):
        ok, wanted = isinstance(value, dict), "un objet"
    else:
        return None
    return None if ok else f"Type invalide : {wanted} est attendu."


class StrictSerializer(serializers.Serializer):
    """A serializer whose JSON input must have the types its schema states."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping) and not isinstance(data, QueryDict):
            errors = {
                name: [problem]
                for name, field in self.fields.items()
                if not field.read_only
                and data.get(name, empty) is not empty
                and (problem := type_problem(field, data[name]))
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
