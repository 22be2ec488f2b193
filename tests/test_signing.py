"""The one check both webhooks use: Stripe's scheme, refusing what Stripe's own check lets by."""

from __future__ import annotations

import pytest

from integrations.signing import SignatureRefused, check, sign, signed_at

SECRET = "whsec_test_signing"
BODY = b'{"id": "evt_1"}'
NOW = 1_800_000_000


def digest_of(header: str) -> str:
    return header.split("v1=")[1]


def test_any_of_several_v1_signatures_may_match() -> None:
    """Stripe signs with every active secret while one is rolled."""
    old = digest_of(sign(BODY, "whsec_old", NOW))
    new = digest_of(sign(BODY, SECRET, NOW))
    check(BODY, f"t={NOW},v1={old},v1={new},v0=ignored", SECRET, now=NOW)
    with pytest.raises(SignatureRefused, match="no v1 signature matches"):
        check(BODY, f"t={NOW},v1={old}", SECRET, now=NOW)


@pytest.mark.parametrize("offset", [-301, 301, 365 * 24 * 3600])
def test_a_timestamp_more_than_five_minutes_away_either_way_is_refused(offset: int) -> None:
    with pytest.raises(SignatureRefused, match="300 s from now"):
        check(BODY, sign(BODY, SECRET, NOW + offset), SECRET, now=NOW)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_a_timestamp_within_five_minutes_is_taken(offset: int) -> None:
    check(BODY, sign(BODY, SECRET, NOW + offset), SECRET, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "t",
        f"t={NOW}",
        f"t={NOW},t={NOW},v1={'0' * 64}",
        f"t=9{'9' * 399},v1={'0' * 64}",
        f"t=1_800_000_000,v1={'0' * 64}",
        f"t=١٨٠٠٠٠٠٠٠٠,v1={'0' * 64}",
        f"t={NOW},v1=é{'0' * 63}",
        f"t={NOW},v1={'0' * 63}",
    ],
)
def test_a_malformed_header_is_refused_saying_why(header: str) -> None:
    with pytest.raises(SignatureRefused) as refused:
        check(BODY, header, SECRET, now=NOW)
    assert str(refused.value)


def test_signed_at_tells_when_whatever_the_age_and_refuses_another_secret() -> None:
    body = b'{"id": "evt_1"}'
    long_ago = NOW - 30 * 24 * 3600
    header = sign(body, SECRET, long_ago)
    assert signed_at(body, header, SECRET) == long_ago
    with pytest.raises(SignatureRefused, match="no v1 signature matches"):
        signed_at(body, header, "another secret")
    with pytest.raises(SignatureRefused, match="no v1 signature matches"):
        signed_at(body + b" ", header, SECRET)
