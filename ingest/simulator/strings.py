"""Vectorized builders for the string columns of the simulator.

Formatting tens of millions of ids, hashes and timestamps one Python string at a time would
cap the simulator at a few thousand records a second.  Every helper here builds a byte matrix
with numpy and hands it to Arrow as a fixed-width string array without copying per value.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# Crockford-style base32 without I, L, O, U: ids look like real opaque ids.
BASE32 = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", dtype=np.uint8)
HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)


def fixed_width(matrix: np.ndarray) -> pa.StringArray:
    """Turn an (n, w) uint8 matrix of ASCII bytes into an Arrow string array of n values."""
    matrix = np.ascontiguousarray(matrix, dtype=np.uint8)
    n, width = matrix.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(matrix.tobytes()))


def with_prefix(prefix: str, body: np.ndarray) -> np.ndarray:
    """Prepend the same ASCII prefix to every row of a byte matrix."""
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    return np.hstack([np.broadcast_to(head, (body.shape[0], head.size)), body])


def random_ids(rng: np.random.Generator, n: int, prefix: str, width: int) -> pa.StringArray:
    """Opaque random ids (`prefix` + `width` base32 characters), the same scheme for everyone."""
    body = BASE32[rng.integers(0, 32, size=(n, width), dtype=np.uint8)]
    return fixed_width(with_prefix(prefix, body))


def hex_matrix(values: np.ndarray, digits: int = 16) -> np.ndarray:
    """Lower-case hex digits of unsigned integers, most significant first, as a byte matrix."""
    values = np.asarray(values, dtype=np.uint64)
    shifts = np.arange(digits - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
    nibbles = (values[:, None] >> shifts[None, :]) & np.uint64(0xF)
    return HEX[nibbles.astype(np.uint8)]


def hex_strings(values: np.ndarray, prefix: str = "", digits: int = 16) -> pa.StringArray:
    """`prefix` + the last `digits` hex digits of each value."""
    return fixed_width(with_prefix(prefix, hex_matrix(values, digits)))


def _two_digits(values: np.ndarray) -> np.ndarray:
    return np.stack([DIGITS[values // 10], DIGITS[values % 10]], axis=1)


def day_timestamps(day: str, ms_of_day: np.ndarray) -> pa.StringArray:
    """RFC 3339 UTC timestamps with milliseconds for instants inside one UTC day.

    Every record of a chunk lies in the same day, so the date part is a constant prefix and only
    the clock needs formatting: ten times faster than `pyarrow.compute.strftime`.
    """
    ms = np.asarray(ms_of_day, dtype=np.int64)
    seconds, millis = np.divmod(ms, 1000)
    hours, rest = np.divmod(seconds, 3600)
    minutes, secs = np.divmod(rest, 60)
    n = ms.size
    colon = np.full((n, 1), ord(":"), dtype=np.uint8)
    dot = np.full((n, 1), ord("."), dtype=np.uint8)
    zulu = np.full((n, 1), ord("Z"), dtype=np.uint8)
    milli = np.stack([DIGITS[millis // 100], DIGITS[(millis // 10) % 10], DIGITS[millis % 10]], axis=1)
    body = np.hstack(
        [_two_digits(hours), colon, _two_digits(minutes), colon, _two_digits(secs), dot, milli, zulu]
    )
    return fixed_width(with_prefix(f"{day}T", body))


def ipv4_strings(values: np.ndarray) -> list[str]:
    """Dotted-quad text of IPv4 addresses held as integers (used on small tables only)."""
    values = np.asarray(values, dtype=np.uint64)
    octets = [(values >> np.uint64(s)) & np.uint64(255) for s in (24, 16, 8, 0)]
    return [f"{a}.{b}.{c}.{d}" for a, b, c, d in zip(*(o.tolist() for o in octets), strict=True)]


def splitmix64(values: np.ndarray) -> np.ndarray:
    """A fast, well-mixed 64-bit hash of integers: stable pseudo-random hashes from keys."""
    z = np.asarray(values, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
