"""Monitored API accounts and their traffic.

``Request`` is the big table (tens of millions of rows). It is kept narrow: integer keys,
low-cardinality strings in lookup tables, no foreign-key constraints (the loader guarantees
them set-based; per-row FK triggers would cost more than the insert itself), and partitioned
by month of ``ts``. Rollups (``AccountHour``, ``TrafficHour``, ``AccountTrafficValue``) and
``Session`` rows are written by ingest in the same transaction as the requests they count, so
charts and pivots never scan requests.
"""

from __future__ import annotations

from django.db import models


class Lookup(models.Model):
    """A low-cardinality string stored once; the big table keeps its small integer id."""

    id = models.AutoField(primary_key=True)
    value = models.TextField(unique=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.value


class ModelName(Lookup):
    class Meta:
        db_table = "lookup_model"


class UserAgent(Lookup):
    class Meta:
        db_table = "lookup_user_agent"


class Category(Lookup):
    class Meta:
        db_table = "lookup_category"


class Country(Lookup):
    class Meta:
        db_table = "lookup_country"


class ClientFingerprint(Lookup):
    class Meta:
        db_table = "lookup_client_fingerprint"


class PromptTemplate(Lookup):
    """A ``template_hash``: the same prompt template filled with other values."""

    class Meta:
        db_table = "lookup_template"


class SystemPrompt(Lookup):
    class Meta:
        db_table = "lookup_system_prompt"


class Language(Lookup):
    class Meta:
        db_table = "lookup_language"


class Org(Lookup):
    """An organisation id as the provider's logs name it."""

    class Meta:
        db_table = "org"


class Account(models.Model):
    """A customer account of the model API, as sign-up and billing describe it.

    A request may name an account before (or without) its account record: the account is
    then a placeholder (``is_placeholder``) until a record fills it in.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"
        CLOSED = "closed"

    id = models.AutoField(primary_key=True)
    account_id = models.CharField(max_length=64, unique=True)
    is_placeholder = models.BooleanField(default=False)
    created_at = models.DateTimeField(null=True, blank=True)
    org = models.ForeignKey(Org, null=True, blank=True, on_delete=models.PROTECT)
    email = models.CharField(max_length=256, null=True, blank=True)
    signup_ip = models.GenericIPAddressField(null=True, blank=True)
    signup_country = models.CharField(max_length=2, null=True, blank=True)
    signup_asn = models.BigIntegerField(null=True, blank=True)
    billing_country = models.CharField(max_length=2, null=True, blank=True)
    payment_fingerprint = models.CharField(max_length=256, null=True, blank=True, db_index=True)
    payment_method = models.CharField(max_length=16, null=True, blank=True)
    phone_verified = models.BooleanField(null=True, blank=True)
    device_fingerprint = models.CharField(max_length=256, null=True, blank=True, db_index=True)
    signup_channel = models.CharField(max_length=256, null=True, blank=True)
    plan = models.CharField(max_length=256, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, null=True, blank=True)
    # Kept current by ingest, so lists can sort by activity without touching requests.
    first_request_at = models.DateTimeField(null=True, blank=True)
    last_request_at = models.DateTimeField(null=True, blank=True)
    request_count = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "account"
        # The account list's default order (busiest first, as the API and pages page through it):
        # a top-N read instead of sorting every account per page.
        indexes = [models.Index(models.F("request_count").desc(), models.F("id").desc(), name="account_busiest_idx")]

    def __str__(self) -> str:
        return self.account_id


class ApiKey(models.Model):
    """An API key seen in traffic; belongs to the first account seen using it."""

    id = models.AutoField(primary_key=True)
    key_id = models.CharField(max_length=64, unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="api_keys")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        db_table = "api_key"

    def __str__(self) -> str:
        return self.key_id


class RequestKey(models.Model):
    """One row per request ever loaded: the global de-duplication key and locator.

    PostgreSQL cannot enforce a unique ``request_id`` across time partitions, so this small
    table does, and tells where the request lives (its ``ts`` prunes to one partition).
    """

    request_id = models.CharField(max_length=64, primary_key=True)
    ts = models.DateTimeField()
    # Nothing looks requests up by account here (the request table has that index), so no
    # second index slows the one insert every loaded request pays.
    account = models.ForeignKey(Account, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False)

    class Meta:
        db_table = "request_key"


class Request(models.Model):
    """One call to the model API. Partitioned by month of ``ts`` (see migration 0002).

    ``request_id`` is unique across the table because ``RequestKey`` enforces it at load
    time; the table itself has no unique index (a partitioned table's would need ``ts``).
    """

    request_id = models.CharField(max_length=64, primary_key=True)
    ts = models.DateTimeField()
    account = models.ForeignKey(Account, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    api_key = models.ForeignKey(ApiKey, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    org = models.ForeignKey(Org, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    ip = models.GenericIPAddressField()
    country = models.ForeignKey(Country, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    asn = models.BigIntegerField(null=True)
    ip_type = models.SmallIntegerField(null=True)
    user_agent = models.ForeignKey(UserAgent, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    client_fingerprint = models.ForeignKey(
        ClientFingerprint, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    end_user_id = models.TextField(null=True)
    model = models.ForeignKey(ModelName, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    status_code = models.SmallIntegerField()
    input_tokens = models.IntegerField()
    output_tokens = models.IntegerField()
    latency_ms = models.IntegerField(null=True)
    category = models.ForeignKey(Category, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    prompt_hash = models.TextField(null=True)
    prompt_simhash = models.BigIntegerField(null=True)
    template = models.ForeignKey(
        PromptTemplate, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    system_prompt = models.ForeignKey(
        SystemPrompt, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    conversation_id = models.TextField(null=True)
    turn = models.IntegerField(null=True)
    tool_count = models.IntegerField(null=True)
    reasoning_requested = models.BooleanField(null=True)
    stream = models.BooleanField(null=True)
    prompt_lang = models.ForeignKey(Language, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    ingest_run_id = models.IntegerField()

    class Meta:
        managed = False
        db_table = "request"


IP_TYPES = ("residential", "mobile", "business", "hosting", "proxy", "vpn", "tor", "unknown")
"""``Request.ip_type`` stores the position in this tuple (a fixed enum in the log format)."""


class RequestExcerpt(models.Model):
    """The sampled prompt excerpts, kept apart so the request table stays narrow."""

    request_id = models.CharField(max_length=64, primary_key=True)
    excerpt = models.TextField()

    class Meta:
        db_table = "request_excerpt"


class Session(models.Model):
    """Consecutive requests of one account and key with gaps under 30 minutes."""

    id = models.BigAutoField(primary_key=True)
    # session_account_ended below starts with the account: no separate index needed.
    account = models.ForeignKey(Account, on_delete=models.DO_NOTHING, db_constraint=False, related_name="sessions",
                                db_index=False)
    api_key = models.ForeignKey(ApiKey, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    request_count = models.IntegerField()
    input_tokens = models.BigIntegerField()
    output_tokens = models.BigIntegerField()

    class Meta:
        db_table = "session"
        # Merging a batch looks up sessions ending after its first request: in the usual,
        # roughly chronological delivery that is the last one or none, so index ended_at.
        indexes = [models.Index(fields=["account", "ended_at"], name="session_account_ended")]


class AccountHour(models.Model):
    """Requests and tokens per account, hour, model and category (the timelines' source)."""

    # The key leads with the account, which is how every reader asks; single-column indexes on
    # its parts would only slow the rollup upsert that every ingested file runs.
    pk = models.CompositePrimaryKey("account", "hour", "model", "category")
    account = models.ForeignKey(Account, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+",
                                db_index=False)
    hour = models.DateTimeField()
    model = models.ForeignKey(ModelName, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+",
                                db_index=False)
    # Category id 0 (value "") stands for "no category", so the key stays NOT NULL.
    category = models.ForeignKey(Category, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+",
                                db_index=False)
    requests = models.IntegerField()
    input_tokens = models.BigIntegerField()
    output_tokens = models.BigIntegerField()
    reasoning_requests = models.IntegerField()
    error_requests = models.IntegerField()

    class Meta:
        db_table = "account_hour"


class TrafficHour(models.Model):
    """All traffic per hour, model and category: the baseline campaigns are compared to."""

    pk = models.CompositePrimaryKey("hour", "model", "category")
    hour = models.DateTimeField()
    model = models.ForeignKey(ModelName, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    category = models.ForeignKey(Category, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    requests = models.BigIntegerField()
    input_tokens = models.BigIntegerField()
    output_tokens = models.BigIntegerField()
    reasoning_requests = models.BigIntegerField()
    error_requests = models.BigIntegerField()

    class Meta:
        db_table = "traffic_hour"


class AccountTrafficValue(models.Model):
    """Which accounts ever sent a template or client fingerprint: first and last seen, requests.

    Finding the accounts that share a value otherwise means scanning a window of everyone's
    requests (neither column is indexed on ``request``: an index there would cost every
    insert); this table is about 1% of the request rows and keyed by value, so the neighbours
    panel and a campaign's candidates find the carriers with one index range and then count
    their requests in the window through the ``(account_id, ts)`` index.
    """

    class Kind(models.IntegerChoices):
        TEMPLATE = 1, "template"
        CLIENT_FINGERPRINT = 2, "client_fingerprint"

    pk = models.CompositePrimaryKey("kind", "value", "account")
    kind = models.SmallIntegerField(choices=Kind.choices)
    value = models.IntegerField()  # the lookup id (lookup_template or lookup_client_fingerprint)
    account = models.ForeignKey(Account, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+",
                                db_index=False)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    requests = models.BigIntegerField()

    class Meta:
        db_table = "account_traffic_value"
