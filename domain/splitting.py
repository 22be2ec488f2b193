"""The split planner: which warehouse ships which units, in which parcels, and why.

A pure function of its input, so the order workflow can run it and replay it. The rules
apply in a fixed order (docs/rules.md):

1. same-warehouse merge first: one warehouse holding every line ships everything;
   otherwise a line goes to a warehouse the order already uses when that one holds it;
2. cold-chain goods ship apart from ambient goods;
3. fragile goods ship apart;
4. a high-value line ships alone, insured;
5. no parcel is heavier than the carrier's limit;
6. a line comes from the nearest warehouse (great-circle distance) that holds it;
7. a shortage there moves the line, or the part that is short, to the next nearest.

Units no warehouse holds come back as shortages; the planner never invents stock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from domain.errors import InvalidOrder
from domain.rules import SplitRules

EARTH_RADIUS_KM = 6371.0088
# Stock another order takes between planning and reserving means planning again, this many
# times before the order is told it is out of stock.
PLAN_ATTEMPTS = 3
RACED_OUT = "out of stock: other orders kept taking the units while this one reserved"


class PlanLine(BaseModel):
    sku: str
    quantity: int = Field(gt=0)
    unit_price: int = Field(ge=0)
    weight_grams: int = Field(ge=0)
    cold_chain: bool = False
    fragile: bool = False


class GeoPoint(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class WarehouseStock(BaseModel):
    code: str
    location: GeoPoint
    available: dict[str, int] = {}  # units free to reserve, per SKU


class PackageLine(BaseModel):
    sku: str
    quantity: int = Field(gt=0)


class Package(BaseModel):
    number: int
    warehouse: str
    lines: list[PackageLine]
    reasons: list[str]
    weight_grams: int
    value: int
    cold_chain: bool = False
    fragile: bool = False
    insured: bool = False

    def units(self, sku: str) -> int:
        return sum(line.quantity for line in self.lines if line.sku == sku)


class Shortage(BaseModel):
    sku: str
    quantity: int


class SplitPlan(BaseModel):
    packages: list[Package]
    shortages: list[Shortage] = []

    @property
    def complete(self) -> bool:
        return not self.shortages

    def summary(self) -> str:
        count = len(self.packages)
        return f"ships in {count} package{'s' if count != 1 else ''}"

    def describe_shortages(self) -> str:
        return ", ".join(f"{s.sku} short by {s.quantity}" for s in self.shortages)


class UnshippableItem(InvalidOrder):
    """One unit alone is heavier than the carrier takes in a parcel."""

    code = "unshippable_item"


def great_circle_km(a: GeoPoint, b: GeoPoint) -> float:
    """Haversine distance."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def check_parcel_weight(sku: str, unit_weight_grams: int, rules: SplitRules) -> None:
    """One unit heavier than the carrier's parcel limit can never ship, however it is split."""
    if unit_weight_grams > rules.max_parcel_weight_grams:
        raise UnshippableItem(
            f"one {sku} weighs {unit_weight_grams} g, more than the "
            f"{rules.max_parcel_weight_grams} g a parcel may weigh"
        )


def plan_packages(
    lines: Sequence[PlanLine],
    destination: GeoPoint | None,
    warehouses: Sequence[WarehouseStock],
    rules: SplitRules,
) -> SplitPlan:
    items = _merge_lines(lines)
    for item in items.values():
        check_parcel_weight(item.sku, item.weight_grams, rules)
    ranked = _rank(warehouses, destination)
    sourced, shortages = _source(list(items.values()), ranked, located=destination is not None)
    packages: list[Package] = []
    for warehouse in ranked:
        here = [taken for taken in sourced if taken.warehouse == warehouse.code]
        for group in _groups(here, items, rules):
            packages += _parcels(group, items, rules)
    for number, package in enumerate(packages, start=1):
        package.number = number
    return SplitPlan(packages=packages, shortages=shortages)


def plan_or_problem(
    lines: Sequence[PlanLine],
    destination: GeoPoint | None,
    warehouses: Sequence[WarehouseStock],
    rules: SplitRules,
) -> SplitPlan | str:
    """A plan that ships every unit, or why there is none, as the order's timeline says it."""
    try:
        plan = plan_packages(lines, destination, warehouses, rules)
    except UnshippableItem as error:
        return f"cannot ship: {error}"
    return plan if plan.complete else f"out of stock: {plan.describe_shortages()}"


# --- sourcing: which warehouse gives which units -------------------------------------------


@dataclass
class _Taken:
    sku: str
    warehouse: str
    quantity: int
    reason: str


def _merge_lines(lines: Iterable[PlanLine]) -> dict[str, PlanLine]:
    merged: dict[str, PlanLine] = {}
    for line in sorted(lines, key=lambda item: item.sku):
        if line.sku in merged:
            first = merged[line.sku]
            merged[line.sku] = first.model_copy(update={"quantity": first.quantity + line.quantity})
        else:
            merged[line.sku] = line
    return merged


def _rank(
    warehouses: Sequence[WarehouseStock], destination: GeoPoint | None
) -> list[WarehouseStock]:
    if destination is None:
        return sorted(warehouses, key=lambda w: w.code)
    return sorted(warehouses, key=lambda w: (great_circle_km(destination, w.location), w.code))


def _source(
    items: list[PlanLine], ranked: list[WarehouseStock], *, located: bool
) -> tuple[list[_Taken], list[Shortage]]:
    left = {w.code: dict(w.available) for w in ranked}
    nearest = "nearest warehouse" if located else "warehouse"

    whole = next(
        (w.code for w in ranked if all(left[w.code].get(i.sku, 0) >= i.quantity for i in items)),
        None,
    )
    if whole is not None:
        reason = f"from {whole}: {nearest} holding every line"
        return [_Taken(i.sku, whole, i.quantity, reason) for i in items], []

    taken: list[_Taken] = []
    shortages: list[Shortage] = []
    used: list[str] = []
    # The line with the fewest warehouses to choose from picks first; the others merge in.
    choices = {i.sku: sum(left[c].get(i.sku, 0) >= i.quantity for c in left) for i in items}
    for item in sorted(items, key=lambda i: (choices[i.sku], i.sku)):
        holds = [code for code in left if left[code].get(item.sku, 0) >= item.quantity]
        merged = next((code for code in used if code in holds), None)
        if merged is not None:
            source, reason = merged, f"from {merged}: merged with the order's other lines"
        elif holds:
            source, reason = holds[0], f"from {holds[0]}: {nearest} with {item.sku} in stock"
        else:
            source = None
        if source is not None:
            left[source][item.sku] -= item.quantity
            taken.append(_Taken(item.sku, source, item.quantity, reason))
            used += [] if source in used else [source]
            continue
        # No single warehouse holds the line: nearest first, each gives what it has.
        need, short_at = item.quantity, ""
        for code in left:
            part = min(need, left[code].get(item.sku, 0))
            if part <= 0:
                continue
            reason = (
                f"from {code}: {item.sku} short at {short_at}, {part} moved here"
                if short_at
                else f"from {code}: {nearest} with {item.sku} in stock"
            )
            left[code][item.sku] -= part
            taken.append(_Taken(item.sku, code, part, reason))
            used += [] if code in used else [code]
            need, short_at = need - part, code
            if need == 0:
                break
        if need:
            shortages.append(Shortage(sku=item.sku, quantity=need))
    return taken, shortages


# --- packing: which units travel together ---------------------------------------------------


@dataclass
class _Group:
    taken: list[_Taken]
    reasons: list[str] = field(default_factory=list)
    cold_chain: bool = False
    fragile: bool = False
    insured: bool = False


def _groups(taken: list[_Taken], items: dict[str, PlanLine], rules: SplitRules) -> list[_Group]:
    """Apart what must travel apart: cold chain, fragile, each high-value line."""
    keyed: dict[tuple[bool, bool, str], _Group] = {}
    for part in taken:
        item = items[part.sku]
        cold = rules.separate_cold_chain and item.cold_chain
        fragile = rules.separate_fragile and item.fragile
        threshold = rules.high_value_threshold
        valuable = threshold is not None and item.unit_price * item.quantity >= threshold
        key = (cold, fragile, item.sku if valuable else "")
        group = keyed.setdefault(key, _Group(taken=[], cold_chain=cold, fragile=fragile))
        group.taken.append(part)
        if valuable and threshold is not None:
            group.insured = rules.insure_high_value
            worth = f"{threshold / 100:,.2f}"
            insured = ", insured" if group.insured else ""
            group.reasons = [f"high value (line worth {worth} or more) ships alone{insured}"]
    for (cold, fragile, _), group in keyed.items():
        group.reasons = (
            (["cold chain ships apart"] if cold else [])
            + (["fragile ships apart"] if fragile else [])
            + group.reasons
        )
    return [keyed[key] for key in sorted(keyed, key=lambda k: (k[2] != "", k[0], k[1], k[2]))]


def _parcels(group: _Group, items: dict[str, PlanLine], rules: SplitRules) -> list[Package]:
    """First fit, heaviest units first, under the carrier's weight limit."""
    limit = rules.max_parcel_weight_grams
    parcels: list[dict[str, int]] = []
    weights: list[int] = []
    for part in sorted(group.taken, key=lambda p: (-items[p.sku].weight_grams, p.sku)):
        unit, left = items[part.sku].weight_grams, part.quantity
        for index, parcel in enumerate(parcels):
            fits = left if unit == 0 else min(left, (limit - weights[index]) // unit)
            if fits > 0:
                parcel[part.sku] = parcel.get(part.sku, 0) + fits
                weights[index] += fits * unit
                left -= fits
            if left == 0:
                break
        while left:
            fits = left if unit == 0 else min(left, limit // unit)
            parcels.append({part.sku: fits})
            weights.append(fits * unit)
            left -= fits
    sourcing = list(dict.fromkeys(part.reason for part in group.taken))
    packages = []
    for index, parcel in enumerate(parcels):
        split = (
            [f"weight limit {limit} g: parcel {index + 1} of {len(parcels)}"]
            if len(parcels) > 1
            else []
        )
        packages.append(
            Package(
                number=0,
                warehouse=group.taken[0].warehouse,
                lines=[PackageLine(sku=sku, quantity=q) for sku, q in sorted(parcel.items())],
                reasons=sourcing + group.reasons + split,
                weight_grams=weights[index],
                value=sum(items[sku].unit_price * q for sku, q in parcel.items()),
                cold_chain=group.cold_chain,
                fragile=group.fragile,
                insured=group.insured,
            )
        )
    return packages
