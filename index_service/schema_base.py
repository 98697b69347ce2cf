"""The base of the API's input schemas, shared by several features' schemas and apart from any
feature, so each feature's schemas import it without importing another feature."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, pre_load


class StrippedSchema(Schema):
    """Strips whitespace from every string and drops blanks, so "  " means not given."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def strip(self, data: Any, **_kwargs: Any) -> Any:
        if not isinstance(data, dict):
            return data
        cleaned = {}
        for key, value in data.items():
            if isinstance(value, str):
                value = value.strip()
                if not value:
                    continue
            cleaned[key] = value
        return cleaned
