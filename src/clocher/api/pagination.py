"""Pagination of the API's lists: `limit` and `offset` checked, never silently ignored."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000_000  # above any list here; a larger one would overflow SQL integers


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """DRF's limit/offset pagination falls back to its defaults on `?offset=abc`: a
    script would then read the first page again and again without knowing it. Here a
    value that is not a whole number in range is a 400 naming the parameter."""

    max_limit = MAX_LIMIT

    def _parse(self, request: Request, name: str, minimum: int, maximum: int) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return None
        digits = raw.isascii() and raw.isdigit() and len(raw) <= len(str(maximum))
        if not digits or not minimum <= int(raw) <= maximum:
            raise ValidationError(
                {name: [f"« {raw} » : entier attendu, entre {minimum} et {maximum}."]}
            )
        return int(raw)

    def get_limit(self, request: Request) -> int | None:
        limit = self._parse(request, self.limit_query_param, 1, self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request: Request) -> int:
        return self._parse(request, self.offset_query_param, 0, MAX_OFFSET) or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            schema = parameter["schema"]
            if parameter["name"] == self.limit_query_param:
                schema.update({"minimum": 1, "maximum": self.max_limit})
            else:
                schema.update({"minimum": 0, "maximum": MAX_OFFSET})
        return parameters
