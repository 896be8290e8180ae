"""Shared values between accounts, and the weighted links they make.

Each value (a payment fingerprint, a /24 on a given day, a template, a template in a given
quarter hour...) gets a weight from its rarity, like IDF: one carried by two accounts says a
lot, one carried by a fifth of all accounts says little. A value carried only inside one
organisation is expected sharing (colleagues share a card, an egress, an internal template)
and links nobody. A link between two accounts sums, per kind, the weights of the values they
share, capped at one per kind, times the kind's weight; a link counts only above
``EDGE_THRESHOLD``, which no single kind reaches alone: a campus NAT, a cloud egress range or a
popular SDK links nobody on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from django.db import connection

from campaigns.detection.features import Universe, copy_arrays, window_clause

# kind -> (code, weight of the kind, phrase for explanations)
KINDS: dict[str, tuple[int, float, str]] = {
    "payment": (1, 1.0, "payment instrument"),
    "device": (2, 1.0, "device fingerprint"),
    "signup_net": (3, 0.8, "sign-up address"),
    "email_pattern": (4, 0.8, "e-mail pattern"),
    "signup_burst": (5, 0.5, "sign-up burst"),
    "request_net": (6, 1.0, "request /24 on one day"),
    "client": (7, 0.4, "client fingerprint"),
    "system_prompt": (8, 0.5, "system prompt"),
    "template": (9, 1.0, "prompt template"),
    "sync": (10, 1.0, "synchronized activity (same template, same quarter hour)"),
}
KIND_BY_CODE = {code: name for name, (code, _, _) in KINDS.items()}
# Kinds that restate one fact count once together: an account's sign-up address and the /24 it
# sends from are the same network, so sharing both is one piece of evidence, not two.
FAMILIES = {"signup_net": "network", "request_net": "network"}
EDGE_THRESHOLD = 1.5
SYNC_BUCKET_S = 900
BURST_S = 1800
# Values held by more than this share of active accounts are background, never evidence.
MAX_SHARE = 0.5


def _account_values_sql() -> str:
    """Values from sign-up and billing: one row per (account, kind, value)."""
    k = {name: code for name, (code, _, _) in KINDS.items()}
    return f"""
        SELECT a.id, {k['payment']}, a.payment_fingerprint FROM account a JOIN det_acct d ON d.account_id = a.id
          WHERE a.payment_fingerprint IS NOT NULL AND COALESCE(a.payment_method, '') <> 'none'
        UNION ALL
        SELECT a.id, {k['device']}, a.device_fingerprint FROM account a JOIN det_acct d ON d.account_id = a.id
          WHERE a.device_fingerprint IS NOT NULL
        UNION ALL
        SELECT a.id, {k['signup_net']}, host(a.signup_ip) FROM account a JOIN det_acct d ON d.account_id = a.id
          WHERE a.signup_ip IS NOT NULL
        UNION ALL
        SELECT a.id, {k['signup_net']},
               text(set_masklen(a.signup_ip::cidr, CASE WHEN family(a.signup_ip) = 4 THEN 24 ELSE 48 END))
          FROM account a JOIN det_acct d ON d.account_id = a.id WHERE a.signup_ip IS NOT NULL
        UNION ALL
        -- Numbered addresses (word + running number) made by a script: devcode1042@x, devcode1043@x
        SELECT a.id, {k['email_pattern']},
               regexp_replace(lower(split_part(a.email, '@', 1)), '[0-9]+', '#', 'g') || '@' ||
               lower(split_part(a.email, '@', 2))
          FROM account a JOIN det_acct d ON d.account_id = a.id
          WHERE a.email ~ '[0-9]{{3,}}[^@]*@'
        UNION ALL
        -- Two overlapping grids so a burst straddling a boundary is still one value.
        SELECT a.id, {k['signup_burst']}, 'g' || g || ':' || ((extract(epoch FROM a.created_at)::bigint
               + g * {BURST_S // 2}) / {BURST_S})
          FROM account a JOIN det_acct d ON d.account_id = a.id CROSS JOIN (VALUES (0), (1)) grid(g)
          WHERE a.created_at IS NOT NULL
    """


def _request_values_sql(where: str) -> str:
    """Values from traffic, in one scan of the request table (grouping sets)."""
    k = {name: code for name, (code, _, _) in KINDS.items()}
    return f"""
        WITH r AS (
            SELECT account_id, template_id, client_fingerprint_id, system_prompt_id,
                   set_masklen(ip::cidr, CASE WHEN family(ip) = 4 THEN 24 ELSE 48 END) AS net,
                   (extract(epoch FROM ts)::bigint / 86400) AS day,
                   (extract(epoch FROM ts)::bigint / {SYNC_BUCKET_S}) AS bucket
            FROM request WHERE {where}
        ), g AS (
            SELECT account_id, template_id, client_fingerprint_id, system_prompt_id, net, day, bucket,
                   GROUPING(template_id, client_fingerprint_id, system_prompt_id, net, day, bucket) AS gs
            FROM r
            GROUP BY GROUPING SETS ((account_id, template_id), (account_id, client_fingerprint_id),
                                    (account_id, system_prompt_id), (account_id, net, day),
                                    (account_id, template_id, bucket))
        )
        SELECT account_id,
               CASE WHEN gs = 31 THEN {k['template']} WHEN gs = 47 THEN {k['client']}
                    WHEN gs = 55 THEN {k['system_prompt']} WHEN gs = 57 THEN {k['request_net']}
                    ELSE {k['sync']} END,
               CASE WHEN gs = 31 THEN template_id::text WHEN gs = 47 THEN client_fingerprint_id::text
                    WHEN gs = 55 THEN system_prompt_id::text WHEN gs = 57 THEN text(net) || '@' || day
                    ELSE template_id || '@' || bucket END
        FROM g
        WHERE (gs = 31 AND template_id IS NOT NULL) OR (gs = 47 AND client_fingerprint_id IS NOT NULL)
           OR (gs = 55 AND system_prompt_id IS NOT NULL) OR gs = 57
           OR (gs = 30 AND template_id IS NOT NULL)
    """


@dataclass
class SharedValues:
    """Account × value incidences of values shared across organisations."""

    acct: np.ndarray     # universe index of the account
    value: np.ndarray    # value index
    kind: np.ndarray     # kind code per value
    label: np.ndarray    # value text per value (object array)
    df: np.ndarray       # accounts carrying the value (in the universe)
    weight: np.ndarray   # rarity weight in [0, 1] per value


def shared_values(universe: Universe, since, until) -> SharedValues:
    """Collect values, keep those shared by accounts of two or more organisations."""
    where, params = window_clause(since, until, "ts")
    n = max(universe.size, 2)
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS det_inc")
        cur.execute("CREATE TEMP TABLE det_inc (account_id int, kind smallint, value text)")
        cur.execute(f"INSERT INTO det_inc {_account_values_sql()}")
        cur.execute(f"INSERT INTO det_inc SELECT * FROM ({_request_values_sql(where)}) x "
                    "WHERE account_id IN (SELECT account_id FROM det_acct)", params)
        cur.execute("DROP TABLE IF EXISTS det_val")
        cur.execute(f"""
            CREATE TEMP TABLE det_val AS
            SELECT row_number() OVER (ORDER BY i.kind, i.value) - 1 AS vid, i.kind, i.value,
                   count(DISTINCT i.account_id) AS df
            FROM det_inc i JOIN det_acct d USING (account_id)
            GROUP BY i.kind, i.value
            HAVING count(DISTINCT d.org) >= 2 AND count(DISTINCT i.account_id) <= {MAX_SHARE} * {n}
        """)
        cur.execute("CREATE INDEX ON det_val (kind, value)")
        cur.execute("ANALYZE det_val")
    vals = copy_arrays("SELECT vid, kind, df, value FROM det_val ORDER BY vid", [],
                       ["vid", "kind", "df", "value"])
    inc = copy_arrays("""
        SELECT DISTINCT i.account_id, v.vid FROM det_inc i JOIN det_val v USING (kind, value)
    """, [], ["account_id", "vid"])
    df = vals["df"].astype(np.float64)
    weight = np.clip(np.log(n / np.maximum(df, 1)) / np.log(n / 2), 0.0, 1.0) if n > 2 else np.ones_like(df)
    return SharedValues(
        acct=universe.index_of(inc["account_id"].astype(np.int64)), value=inc["vid"].astype(np.int64),
        kind=vals["kind"].astype(np.int16), label=np.asarray(vals["value"], dtype=object),
        df=vals["df"].astype(np.int64), weight=weight,
    )


def candidate_pairs(sv: SharedValues, universe: Universe, neighbours: int = 4, rng_seed: int = 7,
                    per_account: int = 24) -> np.ndarray:
    """Pairs worth weighing: every pair for small values, a sparse random circulant for big ones.

    A value with many holders makes a clique too big to list; linking each holder to a few
    random others keeps its holders connected (a random regular graph is) at linear cost.
    Each account proposes pairs through its ``per_account`` rarest values of each kind only.
    """
    rng = np.random.default_rng(rng_seed)
    if sv.acct.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    # Keep each account's rarest values per kind for proposing pairs.
    kind = sv.kind[sv.value].astype(np.int64)
    order = np.lexsort((sv.df[sv.value], kind, sv.acct))
    a, v, k = sv.acct[order], sv.value[order], kind[order]
    group = a * 64 + k
    start = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    rank = np.arange(group.size) - np.repeat(start, np.diff(np.r_[start, group.size]))
    keep = rank < per_account
    a, v = a[keep], v[keep]
    # Random order of holders inside each value.
    order = np.lexsort((rng.random(a.size), v))
    a, v = a[order], v[order]
    bounds = np.r_[0, np.flatnonzero(np.diff(v)) + 1, v.size]
    sizes = np.diff(bounds)
    pos = np.arange(v.size) - np.repeat(bounds[:-1], sizes)
    size_of = np.repeat(sizes, sizes)
    first_of = np.repeat(bounds[:-1], sizes)
    out = []
    small = size_of <= 2 * neighbours + 1
    for d in range(1, 2 * neighbours + 1):
        # Small values: every pair once (no wrap); big values: `neighbours` offsets round the ring.
        sel = (small & (pos + d < size_of)) | (~small & (d <= neighbours))
        j = first_of + (pos + d) % size_of
        out.append(np.stack([a[sel], a[j[sel]]], axis=1))
    pairs = np.concatenate(out)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs.sort(axis=1)
    key = np.unique(pairs[:, 0] * np.int64(universe.size + 1) + pairs[:, 1])
    return np.stack([key // (universe.size + 1), key % (universe.size + 1)], axis=1)


def kind_matrices(sv: SharedValues, n_accounts: int, cap: int = 64) -> dict[int, sp.csr_matrix]:
    """Per kind, account × value matrix of rarity weights (each row its ``cap`` rarest values)."""
    mats = {}
    kind_of = sv.kind[sv.value]
    for code in np.unique(sv.kind):
        sel = kind_of == code
        a, v = sv.acct[sel], sv.value[sel]
        order = np.lexsort((sv.df[v], a))
        a, v = a[order], v[order]
        start = np.r_[0, np.flatnonzero(np.diff(a)) + 1]
        rank = np.arange(a.size) - np.repeat(start, np.diff(np.r_[start, a.size]))
        a, v = a[rank < cap], v[rank < cap]
        mats[int(code)] = sp.csr_matrix((sv.weight[v], (a, v)), shape=(n_accounts, sv.df.size))
    return mats


def pair_weights(pairs: np.ndarray, mats: dict[int, sp.csr_matrix], chunk: int = 200_000):
    """Per pair: total link weight and the per-kind parts (capped at one, times kind weight)."""
    weight_of = {code: w for _, (code, w, _) in KINDS.items()}
    codes = sorted(mats)
    parts = np.zeros((pairs.shape[0], len(codes)), dtype=np.float32)
    for lo in range(0, pairs.shape[0], chunk):
        i, j = pairs[lo:lo + chunk, 0], pairs[lo:lo + chunk, 1]
        for c, code in enumerate(codes):
            m = mats[code]
            shared = m[i].multiply(m[j] > 0).sum(axis=1).A1
            parts[lo:lo + chunk, c] = np.minimum(shared, 1.0) * weight_of[code]
    total = np.zeros(pairs.shape[0], dtype=np.float32)
    families: dict[str, list[int]] = {}
    for c, code in enumerate(codes):
        name = KIND_BY_CODE[code]
        families.setdefault(FAMILIES.get(name, name), []).append(c)
    for cols in families.values():
        total += np.minimum(parts[:, cols].sum(axis=1), 1.0)
    return total, parts, codes
