"""The simulated address space: every IP the world uses, with its ASN, country and type.

An address always carries the same ASN, country and type wherever it appears, as a real IP
intelligence feed would label it.  Requests refer to addresses by their row in this table.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .strings import ipv4_strings

# First octets that look like ordinary public unicast space (no private, loopback, multicast,
# documentation or reserved ranges).
_FIRST_OCTETS = np.array(
    [o for o in range(1, 224) if o not in (10, 100, 127, 169, 172, 192, 198, 203, 0)],
    dtype=np.uint32,
)


class Network:
    """Grows the address table; each ASN owns its own /24 prefixes."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.ips: list[np.ndarray] = []
        self.asns: list[np.ndarray] = []
        self.countries: list[str] = []
        self.country_runs: list[tuple[str, int]] = []
        self.types: list[tuple[str, int]] = []
        self.size = 0
        self._prefixes: dict[tuple[int, str, str], list[int]] = {}
        self._used: set[int] = set()

    def _new_prefix(self) -> int:
        while True:
            first = int(self.rng.choice(_FIRST_OCTETS))
            prefix = (first << 16) | int(self.rng.integers(0, 65536))
            if prefix not in self._used:
                self._used.add(prefix)
                return prefix

    def prefixes(self, network: tuple[int, str, str], count: int) -> list[int]:
        """`count` /24 prefixes (as 24-bit ints) announced by this ASN in this country."""
        owned = self._prefixes.setdefault(network, [])
        while len(owned) < count:
            owned.append(self._new_prefix())
        return owned[:count]

    def add(self, network: tuple[int, str, str], count: int, subnets: int = 1) -> np.ndarray:
        """Add `count` distinct-ish addresses spread over `subnets` /24s; return their rows."""
        prefixes = np.array(self.prefixes(network, max(1, subnets)), dtype=np.uint32)
        chosen = prefixes[self.rng.integers(0, prefixes.size, size=count)]
        hosts = self.rng.integers(2, 255, size=count, dtype=np.uint32)
        return self._append(network, (chosen << np.uint32(8)) | hosts)

    def add_mixed(
        self,
        networks: list[tuple[int, str, str]],
        count: int,
        per_subnet: int = 6,
        which: np.ndarray | None = None,
    ) -> np.ndarray:
        """`count` addresses spread over many ASNs and /24s (a proxy provider's pool).

        `which` optionally says which network each address comes from.
        """
        if which is None:
            which = self.rng.integers(0, len(networks), size=count)
        rows = np.empty(count, dtype=np.int32)
        for i, network in enumerate(networks):
            mask = which == i
            n = int(mask.sum())
            if n:
                rows[mask] = self.add(network, n, subnets=max(1, n // per_subnet))
        return rows

    def _append(self, network: tuple[int, str, str], ips: np.ndarray) -> np.ndarray:
        asn, country, ip_type = network
        start = self.size
        self.ips.append(ips.astype(np.uint32))
        self.asns.append(np.full(ips.size, asn, dtype=np.int64))
        self.country_runs.append((country, ips.size))
        self.types.append((ip_type, ips.size))
        self.size += ips.size
        return np.arange(start, self.size, dtype=np.int32)

    def freeze(self) -> IpTable:
        """The finished, read-only table used by the traffic generator."""
        ips = np.concatenate(self.ips) if self.ips else np.zeros(0, np.uint32)
        countries = [c for c, n in self.country_runs for _ in range(n)]
        types = [t for t, n in self.types for _ in range(n)]
        return IpTable(
            ip=ips,
            text=pa.array(ipv4_strings(ips), pa.string()),
            asn=np.concatenate(self.asns) if self.asns else np.zeros(0, np.int64),
            country=pa.array(countries, pa.string()),
            ip_type=pa.array(types, pa.string()),
        )


class IpTable:
    """Columns of every address: text, ASN, country and IP-intelligence type."""

    def __init__(self, ip: np.ndarray, text: pa.Array, asn: np.ndarray, country: pa.Array,
                 ip_type: pa.Array) -> None:
        self.ip, self.text, self.asn, self.country, self.ip_type = ip, text, asn, country, ip_type
        self.country_list = country.to_pylist()
        self.text_list = text.to_pylist()
