"""Upload form of the ingest page."""

from __future__ import annotations

from django import forms
from django.conf import settings

KIND_CHOICES = [("", "from the file name"), ("accounts", "accounts"), ("requests", "requests")]
EXTENSIONS = (".jsonl", ".jsonl.gz", ".csv", ".csv.gz", ".parquet")


class UploadForm(forms.Form):
    file = forms.FileField(label="Log file (.jsonl, .jsonl.gz, .csv, .csv.gz, .parquet)")
    kind = forms.ChoiceField(required=False, choices=KIND_CHOICES, label="Record kind")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        name = (upload.name or "").lower()
        if not name.endswith(EXTENSIONS):
            raise forms.ValidationError(f"Copycat reads {', '.join(EXTENSIONS)} files; this one is {upload.name!r}.")
        limit = settings.INGEST_UPLOAD_MAX_BYTES
        if upload.size > limit:  # the API refuses these too; the page used to save them
            raise forms.ValidationError(f"The file is {upload.size:,} bytes; the limit is {limit:,} bytes "
                                        "(INGEST_UPLOAD_MAX_BYTES). Split it, or put it in the drop folder.")
        return upload

    def clean(self):
        data = super().clean()
        upload, kind = data.get("file"), data.get("kind")
        if upload and not kind:
            base = upload.name.rsplit("/", 1)[-1].lower()
            if not base.startswith(("accounts", "requests")):
                raise forms.ValidationError("Choose the record kind: the file name does not start with "
                                            "'accounts' or 'requests'.")
        return data
