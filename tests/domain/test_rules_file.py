"""The merchant's rules file: defaults, the documented example, and errors that say where."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from api.schemas import OrderCreate
from config.rules import RulesFileError, load_rules
from domain.rules import ChannelRules, FulfilmentRules, LockStrategy, ShortageAction, SplitRules
from domain.sla import SlaRules
from tests.helpers import order_body

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "rules.example.yaml"


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    """The message a merchant sees for a rules file that can't be used."""
    with pytest.raises(RulesFileError) as refused:
        load_rules(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ")
    return message


def test_no_rules_file_means_the_documented_defaults() -> None:
    rules = load_rules(None)
    assert rules == FulfilmentRules()
    assert rules.splitting.max_parcel_weight_grams == 20_000
    assert rules.splitting.high_value_threshold == 50_000
    assert rules.low_stock_threshold == 5
    assert rules.for_channel("tmall").lock == LockStrategy.AT_ORDER


def test_an_empty_rules_file_means_the_defaults(tmp_path: Path) -> None:
    assert load_rules(write(tmp_path, "# nothing configured yet\n")) == FulfilmentRules()


def test_the_example_file_loads_with_its_channels() -> None:
    rules = load_rules(EXAMPLE)
    tmall = rules.for_channel("tmall")
    assert tmall.lock == LockStrategy.AT_PAYMENT
    assert tmall.on_shortage == ShortageAction.REFUND
    flash = rules.for_channel("flash_sale")
    assert flash.lock == LockStrategy.PRE_RESERVE
    assert flash.reservation_ttl == timedelta(minutes=10)
    assert flash.on_shortage == ShortageAction.HOLD


def test_every_channel_the_example_names_is_one_intake_accepts() -> None:
    # A channel intake refuses can never place an order, so its rules would never apply.
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    named = (set(example["channels"]) | set(example["sla"]["ship_by"])) - {"default"}
    assert "flash_sale" in named
    for channel in sorted(named):
        assert OrderCreate.model_validate(order_body(channel=channel)).channel == channel


def test_a_channel_intake_would_refuse_is_refused_in_the_rules_file(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "channels:\n  Flash Sale:\n    lock: at_payment\n"))
    assert "channels.Flash Sale" in message
    message = refusal(write(tmp_path, "sla:\n  ship_by: {Tmall: PT4H}\n"))
    assert "sla.ship_by.Tmall" in message
    # A "-" would make order IDs ambiguous: "flash" + "sale-1" and "flash-sale" + "1".
    message = refusal(write(tmp_path, "channels:\n  flash-sale:\n    lock: at_payment\n"))
    assert "channels.flash-sale" in message


def test_the_example_file_shows_the_defaults_it_claims_to() -> None:
    rules = load_rules(EXAMPLE)
    assert rules.splitting == SplitRules()
    assert rules.low_stock_threshold == FulfilmentRules().low_stock_threshold
    assert rules.for_channel("default") == ChannelRules()
    assert rules.sla == SlaRules()


def test_a_channel_the_file_does_not_list_uses_default() -> None:
    rules = load_rules(EXAMPLE)
    assert rules.for_channel("douyin") == rules.channels["default"]
    assert rules.for_channel("douyin").lock == LockStrategy.AT_ORDER


def test_a_file_without_a_default_channel_falls_back_to_the_built_in_rules(
    tmp_path: Path,
) -> None:
    rules = load_rules(write(tmp_path, "channels:\n  tmall:\n    lock: at_payment\n"))
    assert rules.for_channel("tmall").lock == LockStrategy.AT_PAYMENT
    assert rules.for_channel("jd") == ChannelRules()


def test_a_json_rules_file_works(tmp_path: Path) -> None:
    data = {
        "splitting": {"max_parcel_weight_grams": 15_000, "high_value_threshold": None},
        "channels": {"default": {"lock": "pre_reserve", "reservation_ttl": 300}},
        "low_stock_threshold": 2,
    }
    rules = load_rules(write(tmp_path, json.dumps(data), name="rules.json"))
    assert rules.splitting.max_parcel_weight_grams == 15_000
    assert rules.splitting.high_value_threshold is None
    assert rules.for_channel("web").lock == LockStrategy.PRE_RESERVE
    assert rules.for_channel("web").reservation_ttl == timedelta(minutes=5)
    assert rules.low_stock_threshold == 2


def test_a_negative_weight_limit_is_refused(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "splitting:\n  max_parcel_weight_grams: -1\n"))
    assert "splitting.max_parcel_weight_grams" in message
    assert "greater than 0" in message


def test_a_stage_that_turns_red_before_yellow_is_refused(tmp_path: Path) -> None:
    text = "sla:\n  stages:\n    pack: {yellow: PT2H, red: PT1H}\n"
    message = refusal(write(tmp_path, text))
    assert "sla.stages.pack" in message and "0 < yellow <= red" in message


def test_an_unknown_stage_is_refused(tmp_path: Path) -> None:
    text = "sla:\n  stages:\n    packing: {yellow: PT2H, red: PT3H}\n"
    assert "sla.stages.packing" in refusal(write(tmp_path, text))


def test_an_unknown_lock_strategy_is_refused(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "channels:\n  tmall:\n    lock: at_shipping\n"))
    assert "channels.tmall.lock" in message
    assert "at_payment" in message


def test_a_misspelt_key_is_refused_not_ignored(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "splitting:\n  max_parcel_weight_gram: 10000\n"))
    assert "splitting.max_parcel_weight_gram" in message
    assert "Extra inputs are not permitted" in message


def test_a_top_level_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "- splitting\n- channels\n"))
    assert "top level must be a mapping" in message


def test_broken_yaml_is_refused(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "splitting:\n  separate_fragile: [true\n"))
    assert "not valid YAML" in message


def test_broken_json_is_refused(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, '{"splitting": ', name="rules.json"))
    assert "not valid JSON" in message


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path / "nowhere.yaml")
    assert "cannot read the rules file" in message


def test_a_zero_duration_is_refused(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "channels:\n  default:\n    backorder_wait: PT0S\n"))
    assert "channels.default" in message
    assert "backorder_wait must be longer than zero" in message
