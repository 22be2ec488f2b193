"""The keyring: what one key seals, only the same key and the same place open; a ring with
several keys opens what any of them sealed; settings with an unusable ring don't load."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import ValidationError

from config.keyring import Keyring, KeyringError, NotAuthentic, UnknownKey, new_key
from config.settings import DEV_ENCRYPTION_KEY, Settings, keyring_from

OLD, NEW = os.urandom(32), os.urandom(32)


def test_a_value_opens_with_its_key_and_place() -> None:
    ring = Keyring({"k1": OLD}, current="k1")
    blob = ring.encrypt(b"li.na@example.com", b"customers.email")
    assert b"li.na" not in blob
    assert ring.decrypt(blob, b"customers.email") == b"li.na@example.com"
    # A new nonce every time: equal values don't look equal.
    assert ring.encrypt(b"li.na@example.com", b"customers.email") != blob


def test_a_value_moved_elsewhere_or_changed_does_not_open() -> None:
    ring = Keyring({"k1": OLD}, current="k1")
    blob = ring.encrypt(b"Li Na", b"customers.name")
    with pytest.raises(NotAuthentic):
        ring.decrypt(blob, b"customers.email")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(NotAuthentic):
        ring.decrypt(tampered, b"customers.name")


def test_the_ring_opens_what_any_of_its_keys_sealed_and_seals_with_the_current_one() -> None:
    before = Keyring({"old": OLD}, current="old")
    sealed_before = before.encrypt(b"Li Na", b"x")
    after = Keyring({"old": OLD, "new": NEW}, current="new")
    assert after.decrypt(sealed_before, b"x") == b"Li Na"
    assert after.seal(b"Li Na", b"x").key_id == "new"
    with pytest.raises(UnknownKey, match="'old'"):
        Keyring({"new": NEW}, current="new").decrypt(sealed_before, b"x")


def test_settings_refuse_an_unusable_ring() -> None:
    with pytest.raises(ValidationError, match="not in the ring"):
        Settings(encryption_keys={"a": new_key()}, encryption_key_id="b")
    short = base64.b64encode(os.urandom(16)).decode()
    with pytest.raises(ValidationError, match="16 bytes"):
        Settings(encryption_keys={"a": short}, encryption_key_id="a")
    with pytest.raises(ValidationError, match="not base64"):
        Settings(encryption_keys={"a": "not a key!"}, encryption_key_id="a")
    with pytest.raises(ValidationError, match="key ID"):
        Settings(encryption_keys={"a:b": new_key()}, encryption_key_id="a:b")


def test_production_refuses_the_development_key_even_as_an_old_one() -> None:
    secrets = {
        "stripe_api_key": "sk_live_x",
        "stripe_webhook_secret": "whsec_x",
        "notification_webhook_secret": "whsec_y",
        "carrier_webhook_secret": "whsec_z",
        "auth_signing_keys": {"p1": "p" * 40},
        "auth_key_id": "p1",
    }
    with pytest.raises(ValidationError, match="ORDERFLOW_ENCRYPTION_KEYS"):
        Settings(environment="production", **secrets)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="ORDERFLOW_ENCRYPTION_KEYS"):
        Settings(
            environment="production",
            encryption_keys={"dev-1": DEV_ENCRYPTION_KEY, "2025-07": new_key()},
            encryption_key_id="2025-07",
            **secrets,  # type: ignore[arg-type]
        )
    settings = Settings(
        environment="production",
        encryption_keys={"2025-07": new_key()},
        encryption_key_id="2025-07",
        **secrets,  # type: ignore[arg-type]
    )
    assert keyring_from(settings).key_ids == {"2025-07"}


def test_a_ring_without_its_current_key_is_refused() -> None:
    with pytest.raises(KeyringError):
        Keyring({"a": OLD}, current="b")
