"""Forms of the account pages."""

from __future__ import annotations

import ipaddress

from django import forms

from accounts.models import Category, ModelName
from campaigns.models import Campaign

REASON_MAX = 2000


class RevealForm(forms.Form):
    reason = forms.CharField(max_length=REASON_MAX, label="Why you need the personal data")

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if len(reason) < 5:
            raise forms.ValidationError("State the reason in a few words; it goes into the audit trail.")
        return reason


class LinkToCampaignForm(forms.Form):
    campaign = forms.TypedChoiceField(coerce=int, label="Campaign")
    reason = forms.CharField(max_length=REASON_MAX, label="Reason for linking")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        campaigns = (Campaign.objects.exclude(status=Campaign.Status.DISMISSED).order_by("-score", "-id")
                     .values_list("id", "name")[:300])
        self.fields["campaign"].choices = [(pk, f"#{pk} {name}") for pk, name in campaigns]


class RequestFilterForm(forms.Form):
    start = forms.DateTimeField(required=False, label="From (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = forms.DateTimeField(required=False, label="Until (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    model = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Model")
    category = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Category")
    status_code = forms.IntegerField(required=False, min_value=100, max_value=599, label="HTTP status")
    ip = forms.CharField(required=False, max_length=64, label="IP")
    reasoning = forms.ChoiceField(required=False, choices=[("", "any"), ("yes", "asks for reasoning"), ("no", "does not")],
                                  label="Reasoning")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "any")] + list(ModelName.objects.order_by("value").values_list("id", "value")[:200])
        self.fields["category"].choices = [("", "any")] + [
            (pk, value or "(none)") for pk, value in Category.objects.order_by("value").values_list("id", "value")[:200]]

    def clean_ip(self):
        ip = (self.cleaned_data.get("ip") or "").strip()
        if ip:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise forms.ValidationError("Enter a single IPv4 or IPv6 address.") from None
        return ip

    def filter(self, queryset):
        self.is_valid()
        data = {k: v for k, v in getattr(self, "cleaned_data", {}).items() if k not in self.errors}
        if data.get("start"):
            queryset = queryset.filter(ts__gte=data["start"])
        if data.get("end"):
            queryset = queryset.filter(ts__lt=data["end"])
        if data.get("model") is not None:
            queryset = queryset.filter(model_id=data["model"])
        if data.get("category") is not None:
            queryset = queryset.filter(category_id=data["category"])
        if data.get("status_code"):
            queryset = queryset.filter(status_code=data["status_code"])
        if data.get("ip"):
            queryset = queryset.filter(ip=data["ip"])
        if data.get("reasoning") in ("yes", "no"):
            queryset = queryset.filter(reasoning_requested=data["reasoning"] == "yes")
        return queryset
