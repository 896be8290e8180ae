"""Forms of the campaign pages: they validate input so a bad value is a message, not a 500."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from campaigns.models import Campaign

SORTS = {
    "-score": ("-score", "-id"), "score": ("score", "id"),
    "-member_count": ("-member_count", "-id"), "member_count": ("member_count", "id"),
    "-last_activity": ("-last_activity", "-id"), "last_activity": ("last_activity", "id"),
    "-request_count": ("-request_count", "-id"), "name": ("name", "id"), "-id": ("-id",),
}
SORT_LABELS = {"-score": "score, highest first", "score": "score, lowest first", "-member_count": "size, largest first",
               "member_count": "size, smallest first", "-last_activity": "latest activity first",
               "last_activity": "oldest activity first", "-request_count": "most requests first", "name": "name",
               "-id": "newest first"}
REASON_MAX = 2000


def assignee_choices() -> list[tuple[str, str]]:
    users = get_user_model().objects.filter(is_active=True).order_by("username").values_list("id", "username")[:500]
    return [("", "anyone"), ("none", "unassigned")] + [(str(pk), name) for pk, name in users]


class CampaignFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Name or id contains")
    status = forms.MultipleChoiceField(required=False, choices=Campaign.Status.choices, label="Status")
    severity = forms.MultipleChoiceField(required=False, choices=Campaign.Severity.choices, label="Severity")
    assignee = forms.ChoiceField(required=False, label="Assignee")
    min_size = forms.IntegerField(required=False, min_value=0, max_value=10**9, label="Accounts at least")
    max_size = forms.IntegerField(required=False, min_value=0, max_value=10**9, label="Accounts at most")
    min_score = forms.FloatField(required=False, min_value=-1e9, max_value=1e9, label="Score at least")
    max_score = forms.FloatField(required=False, min_value=-1e9, max_value=1e9, label="Score at most")
    active_from = forms.DateField(required=False, label="Active on or after", widget=forms.DateInput(attrs={"type": "date"}))
    active_to = forms.DateField(required=False, label="Active on or before", widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(required=False, choices=list(SORT_LABELS.items()), label="Sort by")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = assignee_choices()

    def filter(self, queryset):
        """Apply the fields that are valid; invalid ones show their error and are ignored."""
        self.is_valid()
        data = {k: v for k, v in getattr(self, "cleaned_data", {}).items() if k not in self.errors}
        q = (data.get("q") or "").strip()
        if q:
            queryset = queryset.filter(pk=int(q)) if q.isdigit() else queryset.filter(name__icontains=q)
        if data.get("status"):
            queryset = queryset.filter(status__in=data["status"])
        if data.get("severity"):
            queryset = queryset.filter(severity__in=data["severity"])
        assignee = data.get("assignee")
        if assignee == "none":
            queryset = queryset.filter(assignee__isnull=True)
        elif assignee:
            queryset = queryset.filter(assignee_id=int(assignee))
        for field, lookup in (("min_size", "member_count__gte"), ("max_size", "member_count__lte"),
                              ("min_score", "score__gte"), ("max_score", "score__lte")):
            if data.get(field) is not None:
                queryset = queryset.filter(**{lookup: data[field]})
        # A campaign is active in the window when its activity overlaps it.
        if data.get("active_from"):
            queryset = queryset.filter(last_activity__date__gte=data["active_from"])
        if data.get("active_to"):
            queryset = queryset.filter(first_activity__date__lte=data["active_to"])
        return queryset.order_by(*SORTS.get(data.get("sort") or "-score", SORTS["-score"]))


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
        self.fields["ids"].choices = [(v, v) for v in raw[:500] if str(v).isdigit()]
        self.fields["ids"].error_messages["required"] = "Tick at least one campaign."


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Campaign.Status.choices)
    reason = ReasonField(label="Reason for the change")


class EditCampaignForm(forms.ModelForm):
    reason = forms.CharField(required=False, max_length=REASON_MAX, label="Reason (optional)")

    class Meta:
        model = Campaign
        fields = ("name", "severity", "assignee", "summary", "attribution")
        widgets = {"summary": forms.Textarea(attrs={"rows": 3}), "attribution": forms.Textarea(attrs={"rows": 2})}  # noqa: RUF012

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


class MemberFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=64, label="Account id starts with")
    source = forms.ChoiceField(required=False, choices=[("", "any"), ("detection", "detection"), ("analyst", "analyst")],
                               label="Source")
    min_confidence = forms.FloatField(required=False, min_value=0, max_value=1, label="Confidence at least")
    state = forms.ChoiceField(required=False, choices=[("", "members"), ("removed", "removed")], label="Show")
    sort = forms.ChoiceField(required=False, label="Sort by", choices=[
        ("-confidence", "confidence"), ("-requests", "requests"), ("account", "account id"),
        ("-last", "latest activity"), ("-added", "recently added")])
