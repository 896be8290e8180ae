"""Forms of the account pages."""

from __future__ import annotations

from django import forms

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
