"""Fractional sibling-order keys: always strictly between, valid, and short."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin_app.core.fracindex import BASE, DIGITS, MAX_LEN, is_valid_key, key_between, keys_between

# Valid keys: base-62 digits, not ending in "0". Short ones make adjacent pairs likely.
keys = st.text(alphabet=DIGITS, min_size=1, max_size=12).filter(lambda k: k[-1] != "0")
open_keys = st.none() | keys


def _ordered_pair(a: str | None, b: str | None) -> tuple[str | None, str | None]:
    if a is not None and b is not None and a > b:
        return b, a
    return a, b


@given(open_keys, open_keys)
def test_key_between_is_strictly_between_and_valid(a: str | None, b: str | None) -> None:
    lo, hi = _ordered_pair(a, b)
    if lo is not None and lo == hi:
        with pytest.raises(ValueError):
            key_between(lo, hi)
        return
    key = key_between(lo, hi)
    assert is_valid_key(key)
    assert lo is None or lo < key
    assert hi is None or key < hi


@given(open_keys, open_keys, st.integers(min_value=0, max_value=200))
def test_keys_between_sorted_distinct_valid(a: str | None, b: str | None, n: int) -> None:
    lo, hi = _ordered_pair(a, b)
    if lo is not None and lo == hi:
        with pytest.raises(ValueError):
            keys_between(lo, hi, max(n, 1))
        return
    out = keys_between(lo, hi, n)
    assert len(out) == n
    assert all(is_valid_key(k) for k in out)
    assert out == sorted(set(out)), "keys must be strictly increasing"
    if out:
        assert lo is None or lo < out[0]
        assert hi is None or out[-1] < hi


@given(keys, keys)
def test_lo_not_below_hi_is_an_error(a: str, b: str) -> None:
    lo, hi = max(a, b), min(a, b)  # lo >= hi
    with pytest.raises(ValueError):
        key_between(lo, hi)
    with pytest.raises(ValueError):
        keys_between(lo, hi, 3)


def test_first_key_and_symmetry_around_it() -> None:
    first = key_between(None, None)
    assert is_valid_key(first)
    assert key_between(None, first) < first < key_between(first, None)


def test_consecutive_appends_grow_one_character_per_base_half() -> None:
    # A user dropping 3,000 parts one after another at the end of a group.
    key = key_between(None, None)
    seen = [key]
    for _ in range(3000):
        key = key_between(key, None)
        seen.append(key)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    # One extra character roughly every BASE/2 appends, never more.
    assert len(key) <= 2 + 3000 // (BASE // 2 - 1)
    assert len(key) <= MAX_LEN


def test_consecutive_prepends_grow_slowly() -> None:
    key = key_between(None, None)
    seen = [key]
    for _ in range(3000):
        key = key_between(None, key)
        seen.append(key)
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == len(seen)
    assert all(is_valid_key(k) for k in seen)
    assert len(key) <= 2 + 3000 // (BASE // 2 - 2)


def test_repeated_insert_at_same_spot_grows_logarithmically_per_step() -> None:
    # Inserting again and again just after the same sibling: each key halves the gap, so
    # the key grows by about one base-62 digit every log2(62) ≈ 6 insertions.
    lo, hi = "V", "W"
    for _ in range(200):
        hi = key_between(lo, hi)
        assert is_valid_key(hi) and lo < hi
    assert len(hi) <= 2 + 200 // 5


def test_bulk_keys_are_short() -> None:
    out = keys_between(None, None, 100_000)
    assert out == sorted(out) and len(set(out)) == len(out)
    assert max(len(k) for k in out) <= 6


@settings(max_examples=50)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=60))
def test_random_insertion_sequence_keeps_a_total_order(positions: list[int]) -> None:
    # Simulate a sibling list edited by inserting at random positions.
    order: list[str] = []
    for p in positions:
        i = p % (len(order) + 1)
        lo = order[i - 1] if i > 0 else None
        hi = order[i] if i < len(order) else None
        order.insert(i, key_between(lo, hi))
    assert order == sorted(order) and len(set(order)) == len(order)
    assert all(is_valid_key(k) for k in order)


@pytest.mark.parametrize(
    "key, ok",
    [("V", True), ("V0", False), ("", False), ("a-b", False), ("z" * MAX_LEN, True),
     ("z" * (MAX_LEN + 1), False), (None, False), (5, False), ("0", False), ("01", True)],
)
def test_is_valid_key(key: object, ok: bool) -> None:
    assert is_valid_key(key) is ok
