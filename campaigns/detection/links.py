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

from campaigns.detection.features import PROXIED_TYPES, Universe, copy_arrays, stream_arrays, window_clause

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
    "near_prompt": (11, 1.0, "near-duplicate prompt (simhash)"),
}
KIND_BY_CODE = {code: name for name, (code, _, _) in KINDS.items()}
# Kinds that restate one fact count once together: an account's sign-up address and the /24 it
# sends from are the same network, so sharing both is one piece of evidence, not two.
FAMILIES = {"signup_net": "network", "request_net": "network", "template": "prompt", "near_prompt": "prompt"}
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


# Request columns read in one streamed scan (see scan_requests).
_SCAN_COLUMNS = ["account_id", "template", "client", "system_prompt", "net", "net6_text", "bucket", "proxied",
                 "country", "simhash"]
# A simhash is cut into four 16-bit bands; each pair of bands is one 32-bit LSH key, so two
# prompts whose simhashes differ in at most two bits always share a key and random prompts
# (about 2^-32 per key) practically never do.
_BAND_PAIRS = [(i, j) for i in range(4) for j in range(i + 1, 4)]


def _scan_sql(where: str) -> str:
    proxied = ",".join(str(t) for t in PROXIED_TYPES)
    return f"""
        SELECT r.account_id, r.template_id, r.client_fingerprint_id, r.system_prompt_id,
               CASE WHEN family(r.ip) = 4 THEN (r.ip - '0.0.0.0'::inet) >> 8
                    ELSE -1 - (hashtextextended(text(set_masklen(r.ip::cidr, 48)), 0) & 1099511627775) END,
               CASE WHEN family(r.ip) = 6 THEN text(set_masklen(r.ip::cidr, 48)) END,
               extract(epoch FROM r.ts)::bigint / {SYNC_BUCKET_S},
               (r.ip_type IN ({proxied}))::int,
               r.country_id,
               r.prompt_simhash
        FROM request r
        WHERE {where}
    """


def _unique_pairs(acct: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique (account, key) pairs: keys made dense, then one sort of a packed int64."""
    if acct.size == 0:
        return acct.astype(np.int64), key.astype(np.int64)
    uniq, inv = np.unique(key, return_inverse=True)
    packed = np.sort(acct.astype(np.int64) * uniq.size + inv)
    packed = packed[np.r_[True, np.diff(packed) != 0]]
    return packed // uniq.size, uniq[packed % uniq.size]


def _dedupe(acct: np.ndarray, kind: np.ndarray, key: np.ndarray):
    """Unique (account, kind, key) triples, grouped by kind."""
    out_a, out_k, out_v = [], [], []
    for code in np.unique(kind):
        sel = kind == code
        a, v = _unique_pairs(acct[sel], key[sel])
        out_a.append(a)
        out_k.append(np.full(a.size, code, np.int16))
        out_v.append(v)
    if not out_a:
        return np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.int64)
    return np.concatenate(out_a), np.concatenate(out_k), np.concatenate(out_v)


@dataclass
class RequestScan:
    """What one pass over ``request`` yields: per-account counts and value incidences."""

    requests: np.ndarray     # per universe index
    proxied: np.ndarray
    foreign: np.ndarray
    acct: np.ndarray         # incidences: universe index, kind code, int64 key
    kind: np.ndarray
    key: np.ndarray
    net6: dict               # key of an IPv6 /48 -> its text


def _chunk_incidences(universe: Universe, c: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = {name: code for name, (code, _, _) in KINDS.items()}
    a = universe.index_of(c["account_id"].astype(np.int64))
    tpl = c["template"].astype(np.int64)
    bucket = c["bucket"].astype(np.int64)
    net = c["net"].astype(np.int64)
    day = bucket * SYNC_BUCKET_S // 86400
    has_t = tpl >= 0
    parts = [
        (a[has_t], k["template"], tpl[has_t]),
        (a[has_t], k["sync"], (tpl[has_t] << 22) | (bucket[has_t] & 0x3FFFFF)),
        # IPv4 /24 (24 bits) or a 40-bit hash of the IPv6 /48 (negative), with the day (16 bits)
        (a, k["request_net"], np.where(net >= 0, net, (-1 - net) | (1 << 46)) << 16 | (day & 0xFFFF)),
    ]
    for col, name in (("client", "client"), ("system_prompt", "system_prompt")):
        v = c[col].astype(np.int64)
        parts.append((a[v >= 0], k[name], v[v >= 0]))
    # Near-duplicate prompts: LSH keys an account repeats within the chunk (a template filled
    # again and again); a one-off prompt's keys are dropped, so random collisions link nobody.
    sim = c["simhash"]
    if sim.dtype != object and sim.size:
        s = sim.astype(np.int64)
        has_s = s != -1
        s, sa = s[has_s].view(np.uint64), a[has_s]
        bands = [((s >> np.uint64(16 * b)) & np.uint64(0xFFFF)).astype(np.int64) for b in range(4)]
        keys = np.concatenate([(p << 32) | (bands[i] << 16) | bands[j] for p, (i, j) in enumerate(_BAND_PAIRS)])
        if keys.size:
            # account and 35-bit key packed in one int64; a key seen twice in a row repeats
            packed = np.sort((np.tile(sa, len(_BAND_PAIRS)) << 35) | keys)
            same = np.diff(packed) == 0
            rep = packed[np.r_[same, False]]
            parts.append((rep >> 35, k["near_prompt"], rep & ((1 << 35) - 1)))
    acct = np.concatenate([p[0] for p in parts])
    kind = np.concatenate([np.full(p[0].size, p[1], np.int16) for p in parts])
    key = np.concatenate([p[2] for p in parts])
    return _dedupe(acct, kind, key)


def scan_requests(universe: Universe, since, until) -> RequestScan:
    """One streamed pass over ``request`` (needs det_acct): counts and value incidences.

    The scan is read in chunks and each chunk is reduced to unique (account, value) pairs at
    once, so memory follows the number of distinct incidences, not the number of requests.
    """
    where, params = window_clause(since, until, "r.ts")
    n = universe.size
    requests, proxied, foreign = np.zeros(n), np.zeros(n), np.zeros(n)
    incidences, net6 = _Incidences(), {}
    billing = universe.billing_cid
    for c in stream_arrays(_scan_sql(where), params, _SCAN_COLUMNS):
        ids = c["account_id"].astype(np.int64)
        a = np.minimum(universe.index_of(ids), max(n - 1, 0))
        known = universe.ids[a] == ids  # an account outside the universe (created meanwhile)
        if not known.all():
            c = {name: col[known] for name, col in c.items()}
            a = a[known]
        c["account_id"] = universe.ids[a]
        requests += np.bincount(a, minlength=n)
        proxied += np.bincount(a, weights=np.maximum(c["proxied"], 0).astype(np.float64), minlength=n)
        country = c["country"].astype(np.int64)
        # a request from a country other than the billing one (billing -2: none on record)
        abroad = (country >= 0) & (billing[a] != -2) & (country != billing[a])
        foreign += np.bincount(a, weights=abroad.astype(np.float64), minlength=n)
        if c["net6_text"].dtype == object:
            six = c["net"] < 0
            for key, text in zip(c["net"][six].tolist(), c["net6_text"][six].tolist()):
                net6[(-1 - key) | (1 << 46)] = text
        incidences.add(*_chunk_incidences(universe, c))
    acct, kind, key = incidences.result()
    return RequestScan(requests, proxied, foreign, acct, kind, key, net6)


class _Incidences:
    """Unique (account, kind, key) incidences gathered chunk by chunk, kept per kind.

    Each kind's pending chunks are merged (duplicates across chunks collapse) once they hold a
    quarter of the kind's merged rows (at least 262,144), so a merge's temporary arrays are
    the size of one kind, not of everything gathered; accounts are kept as int32. The request
    scan sets a detection run's peak memory on big worlds, and this is what it holds.
    """

    def __init__(self) -> None:
        self.merged: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.pending: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}

    def add(self, acct: np.ndarray, kind: np.ndarray, key: np.ndarray) -> None:
        for code in np.unique(kind).tolist():
            sel = kind == code
            self.pending.setdefault(code, []).append((acct[sel].astype(np.int32), key[sel]))
            waiting = sum(a.size for a, _ in self.pending[code])
            if waiting >= max(self.merged.get(code, (np.zeros(0),))[0].size // 4, 1 << 18):
                self._merge(code)

    def _merge(self, code: int) -> None:
        parts = self.pending.pop(code, [])
        if code in self.merged:
            parts.insert(0, self.merged.pop(code))
        if not parts:
            return
        acct = np.concatenate([a for a, _ in parts])
        key = np.concatenate([k for _, k in parts])
        del parts
        a, k = _unique_pairs(acct, key)
        self.merged[code] = (a.astype(np.int32), k)

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(account, kind, key), grouped by kind in kind order, as _dedupe gives them."""
        for code in list(self.pending):
            self._merge(code)
        codes = sorted(self.merged)
        if not codes:
            return np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.int64)
        acct = np.concatenate([self.merged[c][0] for c in codes]).astype(np.int64)
        kind = np.concatenate([np.full(self.merged[c][0].size, c, np.int16) for c in codes])
        key = np.concatenate([self.merged.pop(c)[1] for c in codes])
        return acct, kind, key


@dataclass
class SharedValues:
    """Account × value incidences of values shared across organisations."""

    acct: np.ndarray     # universe index of the account
    value: np.ndarray    # value index
    kind: np.ndarray     # kind code per value
    label: np.ndarray    # value text per value (object array)
    df: np.ndarray       # accounts carrying the value (in the universe)
    weight: np.ndarray   # rarity weight in [0, 1] per value


def _label(kind: int, key: int, strings: dict, net6: dict) -> str:
    """The value as text, in the forms explain.Labeller reads."""
    name = KIND_BY_CODE[kind]
    if name in ("template", "client", "system_prompt"):
        return str(key)
    if name == "sync":
        return f"{key >> 22}@{key & 0x3FFFFF}"
    if name == "request_net":
        net, day = key >> 16, key & 0xFFFF
        text = net6.get(net, "IPv6 /48") if net >= (1 << 46) else \
            f"{net >> 16}.{(net >> 8) & 255}.{net & 255}.0/24"
        return f"{text}@{day}"
    if name == "near_prompt":
        return f"{key:012x}"
    return str(strings[kind][key])


def shared_values(universe: Universe, since, until, scan: RequestScan | None = None) -> SharedValues:
    """Collect values, keep those shared by accounts of two or more organisations.

    Sign-up and billing values come from ``account`` (small); traffic values from the request
    scan, whose incidence arrays this consumes (they are set to None). Values are integer keys
    per kind; rarity and the organisation test are numpy.
    """
    n = max(universe.size, 2)
    if scan is None:
        scan = scan_requests(universe, since, until)
    rows = copy_arrays(f"SELECT * FROM ({_account_values_sql()}) x", [], ["account_id", "kind", "value"])
    strings: dict[int, np.ndarray] = {}
    accts, kinds, keys = [], [], []
    if rows["account_id"].size:
        ra = universe.index_of(rows["account_id"].astype(np.int64))
        rk = rows["kind"].astype(np.int16)
        rv = np.asarray(rows["value"], dtype=object).astype(str)
        for code in np.unique(rk):
            sel = rk == code
            uniq, inv = np.unique(rv[sel], return_inverse=True)
            strings[int(code)] = uniq
            accts.append(ra[sel])
            kinds.append(np.full(int(sel.sum()), code, np.int16))
            keys.append(inv.astype(np.int64))
    # The scan's incidences are unique already and of other kinds than the account values, so
    # only the account values are deduplicated; the scan's arrays are let go once joined.
    if accts:
        accts, kinds, keys = _dedupe(np.concatenate(accts), np.concatenate(kinds), np.concatenate(keys))
        accts, kinds, keys = [accts], [kinds], [keys]
    acct, kind, key = (np.concatenate([first, *rest]) for first, rest in
                       ((scan.acct, accts), (scan.kind, kinds), (scan.key, keys)))
    scan.acct = scan.kind = scan.key = None
    del accts, kinds, keys
    if acct.size == 0:
        z = np.zeros(0, np.int64)
        return SharedValues(z, z, np.zeros(0, np.int16), np.zeros(0, object), z, np.zeros(0))
    # value id per (kind, key)
    order = np.lexsort((acct, key, kind))
    acct, kind, key = acct[order], kind[order], key[order]
    first = np.r_[True, (np.diff(kind) != 0) | (np.diff(key) != 0)]
    vid = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    df = np.diff(np.r_[starts, acct.size])
    org = universe.org[acct]
    orgs_differ = np.minimum.reduceat(org, starts) != np.maximum.reduceat(org, starts)
    keep_val = orgs_differ & (df >= 2) & (df <= MAX_SHARE * n)
    new_id = np.full(starts.size, -1, np.int64)
    new_id[keep_val] = np.arange(int(keep_val.sum()))
    keep = keep_val[vid]
    kept = starts[keep_val]
    vkind, vkey = kind[kept], key[kept]
    label = np.array([_label(int(k), int(v), strings, scan.net6) for k, v in zip(vkind.tolist(), vkey.tolist())],
                     dtype=object)
    dfk = df[keep_val].astype(np.float64)
    weight = np.clip(np.log(n / np.maximum(dfk, 1)) / np.log(n / 2), 0.0, 1.0) if n > 2 else np.ones_like(dfk)
    return SharedValues(acct=acct[keep], value=new_id[vid[keep]], kind=vkind.astype(np.int16), label=label,
                        df=df[keep_val].astype(np.int64), weight=weight)


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
    del order, v, group, start, rank, keep, k, kind
    sizes = np.diff(bounds)
    pos = np.arange(a.size) - np.repeat(bounds[:-1], sizes)
    size_of = np.repeat(sizes, sizes)
    first_of = np.repeat(bounds[:-1], sizes)
    del bounds, sizes
    small = size_of <= 2 * neighbours + 1
    # Each offset's pairs are packed into one int64 (smaller account first) and deduplicated at
    # once, instead of all offsets' pairs held side by side as two int64 columns: the links
    # phase sets a detection run's peak memory (measured on the demo world).
    span = np.int64(universe.size + 1)
    keys = []
    for d in range(1, 2 * neighbours + 1):
        # Small values: every pair once (no wrap); big values: `neighbours` offsets round the ring.
        sel = (small & (pos + d < size_of)) | (~small & (d <= neighbours))
        i = a[sel]
        j = a[(first_of + (pos + d) % size_of)[sel]]
        del sel
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        del i, j
        distinct = lo != hi
        keys.append(np.unique(lo[distinct] * span + hi[distinct]))
        del lo, hi, distinct
    del pos, size_of, first_of, small
    key = np.unique(np.concatenate(keys))
    del keys
    return np.stack([key // span, key % span], axis=1)


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
