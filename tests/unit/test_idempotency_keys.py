"""Idempotency keys: which requests count as the same, and which keys are usable."""

from __future__ import annotations

import pytest

from hourglass.errors import ValidationError
from hourglass.services.idempotency import check_key, fingerprint


def test_same_request_same_fingerprint() -> None:
    """Key order inside the body does not change the fingerprint."""
    assert fingerprint("post", "/w", {"a": 1, "b": [1, 2]}) == fingerprint(
        "POST", "/w", {"b": [1, 2], "a": 1}
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/w", {"a": 1}),
        ("POST", "/v", {"a": 1}),
        ("POST", "/w", {"a": 2}),
        ("POST", "/w", {}),
    ],
)
def test_any_difference_changes_the_fingerprint(method: str, path: str, body: object) -> None:
    """Another method, path or body is another request."""
    assert fingerprint(method, path, body) != fingerprint("POST", "/w", {"a": 1})


def test_explicit_null_differs_from_absent() -> None:
    """`{"x": null}` and `{}` mean different things on update, so they are different requests."""
    assert fingerprint("PUT", "/w", {"x": None}) != fingerprint("PUT", "/w", {})


@pytest.mark.parametrize("key", [None, "", "  ", "k" * 256, "clé", "a\tb"])
def test_unusable_keys_are_refused(key: str | None) -> None:
    """Missing, blank, over-long or non-printable-ASCII keys are a 400 naming the header."""
    with pytest.raises(ValidationError) as exc:
        check_key(key)
    assert exc.value.errors[0].field == "Idempotency-Key"


@pytest.mark.parametrize("key", ["k", "k" * 255, "8d2f-4c1e:retry#2", "a b"])
def test_usable_keys_are_kept_as_sent(key: str) -> None:
    """Any 1 to 255 printable ASCII characters make a key."""
    assert check_key(key) == key
