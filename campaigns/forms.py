"""Forms of the campaign pages: they validate input so a bad value is a message, not a 500."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from campaigns.models import Campaign
from copycat.text import is_whole_number

REASON_MAX = 2000


def assignee_choices() -> list[tuple[str, str]]:
    users = get_user_model().objects.filter(is_active=True).order_by("username").values_list("id", "username")[:500]
    return [("", "anyone"), ("none", "unassigned")] + [(name, name) for _, name in users]


def dress_campaign_filters(form: forms.Form) -> forms.Form:
    """The CampaignFilterSet's form as the list page shows it: assignee as a choice of user names,
    the activity window as date pickers (the filterset also takes full ISO times)."""
    form.fields["assignee"].widget = forms.Select(choices=assignee_choices())
    for name in ("active_after", "active_before"):
        form.fields[name].widget = forms.DateInput(attrs={"type": "date"})
    return form


class ReasonField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", REASON_MAX)
        kwargs.setdefault("required", True)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2}))
        super().__init__(**kwargs)


class BulkStatusForm(forms.Form):
    ids = forms.TypedMultipleChoiceField(coerce=int, required=True, label="Campaigns")
    status = forms.ChoiceField(choices=Campaign.Status.choices, label="New status")
    reason = ReasonField(label="Reason")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        raw = self.data.getlist("ids") if hasattr(self.data, "getlist") else []
        self.fields["ids"].choices = [(v, v) for v in raw[:500] if is_whole_number(str(v))]
        self.fields["ids"].error_messages["required"] = "Tick at least one campaign."


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Campaign.Status.choices)
    reason = ReasonField(label="Reason for the change")


class EditCampaignForm(forms.ModelForm):
    # Required, as on the API: every change in the case history says why it was made.
    reason = ReasonField(label="Reason for the change")

    class Meta:
        model = Campaign
        fields = ("name", "severity", "assignee", "summary", "attribution")
        widgets = {"summary": forms.Textarea(attrs={"rows": 3}), "attribution": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")


class LinkForm(forms.Form):
    account = forms.CharField(max_length=64, label="Account id")
    reason = ReasonField(label="Reason for linking")


class UnlinkForm(forms.Form):
    account = forms.CharField(max_length=64, label="Account id")
    reason = ReasonField(label="Reason for unlinking")


class NoteForm(forms.Form):
    text = forms.CharField(max_length=20000, widget=forms.Textarea(attrs={"rows": 3}), label="Note")
