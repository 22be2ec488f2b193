"""The split planner: which warehouse ships which units, in which parcels, and why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidOrder
from domain.rules import SplitRules
from domain.splitting import (
    GeoPoint,
    Package,
    PlanLine,
    SplitPlan,
    UnshippableItem,
    WarehouseStock,
    great_circle_km,
    plan_packages,
)

# --- demo data ------------------------------------------------------------------------------

HANGZHOU = GeoPoint(lat=30.27, lon=120.15)
SHANGHAI = GeoPoint(lat=31.23, lon=121.47)
NINGBO = GeoPoint(lat=29.87, lon=121.55)

CATALOGUE = {
    "TEA-001": PlanLine(sku="TEA-001", quantity=1, unit_price=1800, weight_grams=300),
    "CUP-002": PlanLine(sku="CUP-002", quantity=1, unit_price=2400, weight_grams=250, fragile=True),
    "MOON-003": PlanLine(
        sku="MOON-003", quantity=1, unit_price=3200, weight_grams=900, cold_chain=True
    ),
    "POT-004": PlanLine(
        sku="POT-004", quantity=1, unit_price=68000, weight_grams=600, fragile=True
    ),
}


def line(sku: str, quantity: int) -> PlanLine:
    return CATALOGUE[sku].model_copy(update={"quantity": quantity})


def hz(**available: int) -> WarehouseStock:
    return WarehouseStock(code="HZ", location=HANGZHOU, available=_skus(available))


def sh(**available: int) -> WarehouseStock:
    return WarehouseStock(code="SH", location=SHANGHAI, available=_skus(available))


def _skus(available: dict[str, int]) -> dict[str, int]:
    """Keyword-friendly SKU names: TEA_001 -> TEA-001."""
    return {sku.replace("_", "-"): units for sku, units in available.items()}


def shipped(plan: SplitPlan) -> set[tuple[str, str, int]]:
    """(warehouse, sku, units) over the whole plan."""
    totals: Counter[tuple[str, str]] = Counter()
    for package in plan.packages:
        for part in package.lines:
            totals[package.warehouse, part.sku] += part.quantity
    return {(warehouse, sku, units) for (warehouse, sku), units in totals.items()}


def skus(package: Package) -> list[str]:
    return [part.sku for part in package.lines]


# --- merchant stories -----------------------------------------------------------------------


def test_an_order_one_warehouse_holds_ships_in_one_package() -> None:
    plan = plan_packages(
        [line("TEA-001", 1), line("TEA-001", 2)],
        HANGZHOU,
        [hz(TEA_001=10), sh(TEA_001=10)],
        SplitRules(),
    )
    assert shipped(plan) == {("HZ", "TEA-001", 3)}
    assert [p.number for p in plan.packages] == [1]
    assert plan.complete
    assert plan.summary() == "ships in 1 package"


def test_a_customer_in_shanghai_gets_the_shanghai_warehouse_when_both_hold_the_goods() -> None:
    plan = plan_packages(
        [line("TEA-001", 2)], SHANGHAI, [hz(TEA_001=10), sh(TEA_001=10)], SplitRules()
    )
    assert shipped(plan) == {("SH", "TEA-001", 2)}
    assert any("nearest" in reason for reason in plan.packages[0].reasons)


def test_nearest_means_great_circle_distance_not_degrees() -> None:
    """Ningbo is closer to Shanghai in raw degrees, but nearer Hangzhou on the globe."""
    assert great_circle_km(NINGBO, HANGZHOU) < great_circle_km(NINGBO, SHANGHAI)
    plan = plan_packages([line("TEA-001", 1)], NINGBO, [sh(TEA_001=5), hz(TEA_001=5)], SplitRules())
    assert shipped(plan) == {("HZ", "TEA-001", 1)}


def test_a_line_the_nearest_warehouse_cannot_cover_moves_to_the_next_nearest() -> None:
    plan = plan_packages(
        [line("TEA-001", 5)], SHANGHAI, [hz(TEA_001=10), sh(TEA_001=3)], SplitRules()
    )
    assert shipped(plan) == {("HZ", "TEA-001", 5)}
    assert plan.packages[0].reasons[0].startswith("from HZ")


def test_the_part_the_nearest_warehouse_is_short_moves_to_the_next_nearest() -> None:
    plan = plan_packages(
        [line("TEA-001", 5)], SHANGHAI, [hz(TEA_001=4), sh(TEA_001=3)], SplitRules()
    )
    assert shipped(plan) == {("SH", "TEA-001", 3), ("HZ", "TEA-001", 2)}
    assert [p.warehouse for p in plan.packages] == ["SH", "HZ"]
    assert "from HZ: TEA-001 short at SH, 2 moved here" in plan.packages[1].reasons
    assert plan.complete


def test_one_warehouse_holding_everything_wins_over_a_nearer_one_holding_part() -> None:
    plan = plan_packages(
        [line("TEA-001", 1), line("CUP-002", 1)],
        SHANGHAI,
        [hz(TEA_001=5, CUP_002=5), sh(TEA_001=5)],
        SplitRules(),
    )
    assert {warehouse for warehouse, _, _ in shipped(plan)} == {"HZ"}


def test_mooncakes_travel_cold_apart_from_the_tea() -> None:
    plan = plan_packages(
        [line("MOON-003", 2), line("TEA-001", 1)],
        HANGZHOU,
        [hz(TEA_001=5, MOON_003=5)],
        SplitRules(),
    )
    assert [skus(p) for p in plan.packages] == [["TEA-001"], ["MOON-003"]]
    ambient, cold = plan.packages
    assert not ambient.cold_chain and cold.cold_chain
    assert "cold chain ships apart" in cold.reasons
    assert "cold chain ships apart" not in ambient.reasons
    assert plan.summary() == "ships in 2 packages"


def test_the_teapot_ships_alone_and_insured() -> None:
    plan = plan_packages(
        [line("TEA-001", 2), line("POT-004", 1), line("CUP-002", 2)],
        HANGZHOU,
        [hz(TEA_001=5, CUP_002=5, POT_004=1)],
        SplitRules(),
    )
    assert plan.summary() == "ships in 3 packages"
    (teapot,) = [p for p in plan.packages if "POT-004" in skus(p)]
    assert skus(teapot) == ["POT-004"]
    assert teapot.insured and teapot.value == 68000
    assert any("high value" in r and "insured" in r for r in teapot.reasons)
    assert not any(p.insured for p in plan.packages if p is not teapot)


def test_a_high_value_line_is_not_insured_when_the_merchant_turns_insurance_off() -> None:
    plan = plan_packages(
        [line("TEA-001", 1), line("POT-004", 1)],
        HANGZHOU,
        [hz(TEA_001=5, POT_004=1)],
        SplitRules(insure_high_value=False),
    )
    (teapot,) = [p for p in plan.packages if "POT-004" in skus(p)]
    assert skus(teapot) == ["POT-004"] and not teapot.insured


def test_a_hundred_teas_go_out_in_parcels_under_the_weight_limit() -> None:
    plan = plan_packages([line("TEA-001", 100)], HANGZHOU, [hz(TEA_001=100)], SplitRules())
    assert [(p.units("TEA-001"), p.weight_grams) for p in plan.packages] == [
        (66, 19_800),
        (34, 10_200),
    ]
    assert "weight limit 20000 g: parcel 1 of 2" in plan.packages[0].reasons
    assert "weight limit 20000 g: parcel 2 of 2" in plan.packages[1].reasons

    small = plan_packages(
        [line("TEA-001", 100)],
        HANGZHOU,
        [hz(TEA_001=100)],
        SplitRules(max_parcel_weight_grams=3_000),
    )
    assert [p.units("TEA-001") for p in small.packages] == [10] * 10


def test_a_unit_heavier_than_a_parcel_may_weigh_is_refused_clearly() -> None:
    with pytest.raises(UnshippableItem) as refused:
        plan_packages(
            [line("TEA-001", 1), line("MOON-003", 1)],
            HANGZHOU,
            [hz(TEA_001=5, MOON_003=5)],
            SplitRules(max_parcel_weight_grams=500),
        )
    assert isinstance(refused.value, InvalidOrder)
    assert (
        refused.value.message == "one MOON-003 weighs 900 g, more than the 500 g a parcel may weigh"
    )


def test_goods_no_warehouse_holds_come_back_as_shortages() -> None:
    plan = plan_packages(
        [line("TEA-001", 2), line("CUP-002", 3)],
        HANGZHOU,
        [hz(TEA_001=5), sh(CUP_002=1)],
        SplitRules(),
    )
    assert shipped(plan) == {("HZ", "TEA-001", 2), ("SH", "CUP-002", 1)}
    assert not plan.complete
    assert plan.describe_shortages() == "CUP-002 short by 2"

    nothing = plan_packages([line("MOON-003", 4)], HANGZHOU, [hz(TEA_001=5)], SplitRules())
    assert nothing.packages == []
    assert nothing.describe_shortages() == "MOON-003 short by 4"
    assert nothing.summary() == "ships in 0 packages"


def test_hangzhou_to_shanghai_is_about_165_km() -> None:
    assert great_circle_km(HANGZHOU, SHANGHAI) == pytest.approx(165, abs=3)
    assert great_circle_km(SHANGHAI, HANGZHOU) == pytest.approx(great_circle_km(HANGZHOU, SHANGHAI))
    assert great_circle_km(HANGZHOU, HANGZHOU) == 0


# --- properties -----------------------------------------------------------------------------

SKU_POOL = ["A", "B", "C", "D", "E"]


@dataclass(frozen=True)
class Scenario:
    lines: list[PlanLine]
    destination: GeoPoint | None
    warehouses: list[WarehouseStock]
    rules: SplitRules
    shuffled_warehouses: list[WarehouseStock]
    shuffled_lines: list[PlanLine]

    def plan(self) -> SplitPlan:
        return plan_packages(self.lines, self.destination, self.warehouses, self.rules)

    def ordered(self) -> Counter[str]:
        totals: Counter[str] = Counter()
        for item in self.lines:
            totals[item.sku] += item.quantity
        return totals

    def item(self, sku: str) -> PlanLine:
        return next(item for item in self.lines if item.sku == sku)

    def in_stock(self, sku: str) -> int:
        return sum(w.available.get(sku, 0) for w in self.warehouses)

    def high_value(self, sku: str) -> bool:
        threshold = self.rules.high_value_threshold
        return (
            threshold is not None and self.item(sku).unit_price * self.ordered()[sku] >= threshold
        )


points = st.builds(
    lambda lat, lon: GeoPoint(lat=lat / 100, lon=lon / 100),
    st.integers(-9_000, 9_000),
    st.integers(-18_000, 18_000),
)
split_rules = st.builds(
    SplitRules,
    separate_cold_chain=st.booleans(),
    separate_fragile=st.booleans(),
    high_value_threshold=st.none() | st.integers(1, 200_000),
    insure_high_value=st.booleans(),
    max_parcel_weight_grams=st.integers(1, 30_000),
)
# (price, weight as thousandths of the parcel limit, cold chain, fragile)
product_traits = st.tuples(
    st.integers(0, 20_000), st.integers(0, 1_000), st.booleans(), st.booleans()
)
ordered_lines = st.lists(
    st.tuples(st.sampled_from(SKU_POOL), st.integers(1, 50)), min_size=1, max_size=12
)
stock_levels = st.dictionaries(
    st.sampled_from(SKU_POOL), st.integers(0, 120), max_size=len(SKU_POOL)
)
warehouse_sites = st.lists(
    st.tuples(st.sampled_from("ABCDEFGHJK"), points, stock_levels),
    min_size=1,
    max_size=8,
    unique_by=lambda site: site[0],
)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    rules = draw(split_rules)
    limit = rules.max_parcel_weight_grams
    product: dict[str, PlanLine] = {}
    for sku in SKU_POOL:
        price, weight, cold, fragile = draw(product_traits)
        product[sku] = PlanLine(
            sku=sku,
            quantity=1,
            unit_price=price,
            weight_grams=limit * weight // 1_000,
            cold_chain=cold,
            fragile=fragile,
        )
    lines = [product[sku].model_copy(update={"quantity": q}) for sku, q in draw(ordered_lines)]
    warehouses = [
        WarehouseStock(code=f"W{code}", location=location, available=available)
        for code, location, available in draw(warehouse_sites)
    ]
    return Scenario(
        lines=lines,
        destination=draw(st.none() | points),
        warehouses=warehouses,
        rules=rules,
        shuffled_warehouses=draw(st.permutations(warehouses)),
        shuffled_lines=draw(st.permutations(lines)),
    )


checked = settings(max_examples=200, deadline=None, database=None)


@checked
@given(scenarios())
def test_every_unit_ships_once_or_is_short_and_no_stock_is_invented(case: Scenario) -> None:
    """No unit ships twice or gets lost; no warehouse gives more than it has."""
    plan = case.plan()
    available = {w.code: w.available for w in case.warehouses}
    packed: Counter[str] = Counter()
    taken: Counter[tuple[str, str]] = Counter()
    for package in plan.packages:
        assert package.lines, "an empty package"
        assert len(skus(package)) == len(set(skus(package)))
        for part in package.lines:
            packed[part.sku] += part.quantity
            taken[package.warehouse, part.sku] += part.quantity
    short = {shortage.sku: shortage.quantity for shortage in plan.shortages}
    assert len(short) == len(plan.shortages), "a SKU reported short twice"
    assert all(quantity > 0 for quantity in short.values())
    assert set(packed) | set(short) <= set(case.ordered())
    for sku, quantity in case.ordered().items():
        assert packed[sku] + short.get(sku, 0) == quantity, sku
        assert short.get(sku, 0) == max(0, quantity - case.in_stock(sku)), sku
    for (warehouse, sku), units in taken.items():
        assert units <= available[warehouse].get(sku, 0), (warehouse, sku)
    assert plan.complete == (not plan.shortages)


@checked
@given(scenarios())
def test_packages_respect_the_handling_rules(case: Scenario) -> None:
    """Cold chain, fragile and high-value goods travel the way the merchant's rules say."""
    rules = case.rules
    for package in case.plan().packages:
        items = [case.item(sku) for sku in skus(package)]
        if rules.separate_cold_chain:
            assert {item.cold_chain for item in items} == {package.cold_chain}
        else:
            assert not package.cold_chain
        if rules.separate_fragile:
            assert {item.fragile for item in items} == {package.fragile}
        else:
            assert not package.fragile
        valuable = [item.sku for item in items if case.high_value(item.sku)]
        if valuable:
            assert skus(package) == valuable, "a high-value line shares its package"
            assert package.insured == rules.insure_high_value
            assert any("high value" in reason for reason in package.reasons)
        else:
            assert not package.insured


@checked
@given(scenarios())
def test_packages_are_numbered_explained_parcels_under_the_weight_limit(case: Scenario) -> None:
    """The carrier takes every parcel; the merchant can read why each one exists."""
    plan = case.plan()
    assert [p.number for p in plan.packages] == list(range(1, len(plan.packages) + 1))
    for package in plan.packages:
        items = {sku: case.item(sku) for sku in skus(package)}
        weight = sum(items[p.sku].weight_grams * p.quantity for p in package.lines)
        value = sum(items[p.sku].unit_price * p.quantity for p in package.lines)
        assert package.weight_grams == weight <= case.rules.max_parcel_weight_grams
        assert package.value == value
        assert package.reasons and all(reason.strip() for reason in package.reasons)
        assert package.reasons[0].startswith(f"from {package.warehouse}")
    count = len(plan.packages)
    assert plan.summary() == f"ships in {count} package{'' if count == 1 else 's'}"


@checked
@given(scenarios())
def test_the_same_order_always_gets_the_same_plan(case: Scenario) -> None:
    """The order workflow replays the planner; any difference would break the replay."""
    plan = case.plan()
    assert case.plan() == plan
    for warehouses in (case.shuffled_warehouses, case.warehouses[::-1]):
        assert plan_packages(case.lines, case.destination, warehouses, case.rules) == plan
    assert plan_packages(case.shuffled_lines, case.destination, case.warehouses, case.rules) == plan


@checked
@given(scenarios())
def test_a_line_comes_from_the_nearest_warehouse_that_covers_it(case: Scenario) -> None:
    """With a single SKU and a destination, the nearest warehouse holding it all ships it."""
    sku, destination = case.lines[0].sku, case.destination
    single = [item for item in case.lines if item.sku == sku]
    quantity = sum(item.quantity for item in single)
    holders = [w for w in case.warehouses if w.available.get(sku, 0) >= quantity]
    if destination is None or not holders:
        return
    nearest = min(holders, key=lambda w: (great_circle_km(destination, w.location), w.code))
    plan = plan_packages(single, destination, case.warehouses, case.rules)
    assert {p.warehouse for p in plan.packages} == {nearest.code}
