"""Filter pieces shared by every app's filtersets (and so by the pages and the API)."""

from __future__ import annotations

import django_filters as filters
from django import forms

_TRUE = {"true", "1", "yes", "2"}  # "2"/"3": the values Django's yes/no select submits
_FALSE = {"false", "0", "no", "3"}
_UNSET = {"", "unknown"}


class _YesNoSelect(forms.NullBooleanSelect):
    """Django's select drops any value it does not know (the filter then silently does
    nothing): hand the raw text on, so the field can say what is wrong with it."""

    def value_from_datadict(self, data, files, name):
        return data.get(name)


class YesNoField(forms.NullBooleanField):
    widget = _YesNoSelect

    def to_python(self, value):
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if text in _UNSET:
            return None
        raise forms.ValidationError(f"{value!r} is not a yes/no value; give true or false.", code="invalid")


class BooleanFilter(filters.BooleanFilter):
    """django-filter's BooleanFilter, except that a value other than true/false (1/0, yes/no)
    is an error instead of no filter at all."""

    field_class = YesNoField


class IntegerFilter(filters.NumberFilter):
    """A filter on a whole-number column (ids, counts, ASNs, status codes): 1.5 is an error
    that says so, not a silent match on 1.5, and a number past the column's range is an error
    instead of a query PostgreSQL cannot run."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", -(2**63))
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)
