"""A package's way out: stock check, label, hand-over (stock leaves with the parcel), stamps."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity

from domain.contract import AlertKind, AlertLevel, AlertRole
from domain.errors import OutOfStock, UnknownCarrier
from domain.shipping import (
    HandOver,
    LabelRequest,
    LabelView,
    ParcelEvent,
    ParcelPreparation,
    ParcelTrouble,
    PreparedParcel,
    SlaBreach,
    StageBreach,
    StageLimits,
    StageStamp,
    TrackingStage,
    WarehouseStamp,
)
from domain.sla import RESPONSIBLE, SlaLevel, SlaRules, Stage, effective_limits
from integrations.carriers import Carrier, LabelAlreadyUsed, Parcel
from store.db import SessionFactory, transaction
from store.repositories import (
    AlertRepository,
    OrderRepository,
    ShipmentRepository,
    SlaStatisticsRepository,
    StockRepository,
)

# The stages a stamp ends (the carrier's pickup ends all the warehouse's: see hand_over).
ENDED_BY_WAREHOUSE = {"pick_started": [Stage.PICK], "packed": [Stage.PACK]}
ENDED_BY_CARRIER = {
    TrackingStage.DELIVERED: [Stage.TRANSIT],
    TrackingStage.RETURNED: [Stage.TRANSIT],
}


class ShipmentActivities:
    def __init__(self, sessions: SessionFactory, carriers: dict[str, Carrier]) -> None:
        self.sessions = sessions
        self.carriers = carriers

    @activity.defn
    def check_package_stock(self, request: HandOver) -> bool:
        """True while the package's units are still reserved for it, and once they left with
        it: a pickup reported early is handed over in the same workflow task as this check,
        and a replay of that task runs the check again after the hand-over."""
        with transaction(self.sessions) as session:
            return StockRepository(session).package_keeps_its_stock(
                request.order_id, request.package
            )

    @activity.defn
    def buy_label(self, request: LabelRequest) -> LabelView:
        """Bought once per shipment whatever the retries: the shipment ID is the carrier's
        idempotency key, and the row is written once."""
        with transaction(self.sessions) as session:
            existing = ShipmentRepository(session).get(request.shipment_id)
            if existing is not None and existing.label_id and existing.tracking_number:
                return LabelView(
                    carrier=existing.carrier,
                    label_id=existing.label_id,
                    tracking_number=existing.tracking_number,
                )
            address = OrderRepository(session).shipping_address(request.order_id) or {}
            city = str(address.get("city", ""))
        label = self._carrier(request.carrier).buy_label(
            Parcel(
                shipment_id=request.shipment_id,
                origin_warehouse=request.warehouse,
                destination_city=city,
                weight_grams=request.weight_grams,
                insured_value=request.insured_value,
            ),
            key=request.shipment_id,
        )
        view = LabelView(
            carrier=label.carrier, label_id=label.label_id, tracking_number=label.tracking_number
        )
        with transaction(self.sessions) as session:
            ShipmentRepository(session).record_label(request, view)
        return view

    @activity.defn
    def hand_over(self, request: HandOver) -> int:
        """The parcel leaves: its stock is deducted and the pickup stamped in one transaction,
        so there is never a shipment without stock deducted, nor stock deducted without one."""
        try:
            with transaction(self.sessions) as session:
                shipped = StockRepository(session).ship_package(request.order_id, request.package)
                ShipmentRepository(session).stamp(
                    request.shipment_id, TrackingStage.PICKED_UP, request.at
                )
                # The pickup ends the ship-by clock and every warehouse stage; transit, the
                # only stage left, starts now: every SLA alert of the parcel so far is over.
                AlertRepository(session).resolve_prefix(_sla_prefix(request.shipment_id))
        except OutOfStock:
            with transaction(self.sessions) as session:  # it won't leave: nothing is late
                AlertRepository(session).resolve_prefix(_sla_prefix(request.shipment_id))
            raise
        return shipped

    @activity.defn
    def raise_sla_alert(self, breach: SlaBreach) -> None:
        """The warehouse hears of a parcel the carrier hasn't picked up in time, once per level."""
        late = "missed its ship-by deadline" if breach.level == SlaLevel.RED else "is running late"
        with transaction(self.sessions) as session:
            AlertRepository(session).raise_once(
                kind=AlertKind.SLA,
                key=_sla_key(breach.shipment_id, breach.level),
                level=AlertLevel(breach.level),
                subject=f"package {breach.package} of order {breach.order_id}",
                message=(
                    f"not picked up by the carrier: {late} "
                    f"({breach.deadline:%Y-%m-%d %H:%M} UTC; /orders/{breach.order_id})"
                ),
                role=AlertRole.WAREHOUSE,
            )

    @activity.defn
    def stage_limits(self, rules: SlaRules) -> StageLimits:
        """The order's stage limits, tightened by what recent parcels took."""
        with transaction(self.sessions) as session:
            learned = SlaStatisticsRepository(session).all()
        return StageLimits(limits=effective_limits(rules, learned))

    @activity.defn
    def prepare_parcel(self, parcel: ParcelPreparation) -> PreparedParcel:
        """``check_package_stock``, ``buy_label`` and ``stage_limits`` as one step, for the
        parcel an order runs itself: one marker and one payload round instead of three. Each
        part is idempotent as it is alone, and a retry after the label was bought finds it."""
        request = parcel.label
        with transaction(self.sessions) as session:
            if not StockRepository(session).package_keeps_its_stock(
                request.order_id, request.package
            ):
                return PreparedParcel()
            learned = SlaStatisticsRepository(session).all()
        label = self.buy_label(request)
        return PreparedParcel(label=label, limits=effective_limits(parcel.sla, learned))

    @activity.defn
    def raise_stage_alert(self, breach: StageBreach) -> None:
        """A stage running late: once per stage and level, to whoever must act on it."""
        waited = breach.limit.red if breach.level == SlaLevel.RED else breach.limit.yellow
        basis = (
            f"the usual time of the last {breach.limit.samples} parcels"
            if breach.limit.source == "history"
            else "the merchant's limit"
        )
        with transaction(self.sessions) as session:
            AlertRepository(session).raise_once(
                kind=AlertKind.SLA,
                key=_stage_key(breach.shipment_id, breach.stage, breach.level),
                level=AlertLevel(breach.level),
                subject=f"package {breach.package} of order {breach.order_id}",
                message=(
                    f"{breach.stage.value} stage {_late(breach.level)}: over {_minutes(waited)} "
                    f"since {breach.since:%Y-%m-%d %H:%M} UTC ({basis}; /orders/{breach.order_id})"
                ),
                role=RESPONSIBLE[breach.stage],
            )

    @activity.defn
    def raise_parcel_exception(self, trouble: ParcelTrouble) -> None:
        """Support hears of a carrier exception at once; the parcel moving again resolves it."""
        with transaction(self.sessions) as session:
            AlertRepository(session).raise_once(
                kind=AlertKind.CARRIER_EXCEPTION,
                key=_exception_key(trouble.shipment_id),
                level=AlertLevel.RED,
                subject=f"package {trouble.package} of order {trouble.order_id}",
                message=(
                    f"{trouble.carrier} reported an exception for {trouble.tracking_number} at "
                    f"{trouble.at:%Y-%m-%d %H:%M} UTC; the order is on hold until the parcel "
                    f"moves again (/orders/{trouble.order_id})"
                ),
                role=AlertRole.SUPPORT,
            )

    @activity.defn
    def stamp_stage(self, stamp: StageStamp) -> None:
        with transaction(self.sessions) as session:
            ShipmentRepository(session).stamp(
                stamp.shipment_id,
                stamp.stage,
                stamp.at,
                resumed=stamp.moving_again,
                keep_status=stamp.stale,
            )
            alerts = AlertRepository(session)
            _resolve_stages(alerts, stamp.shipment_id, ENDED_BY_CARRIER.get(stamp.stage, []))
            # Delivered settles an exception too, even one the carrier dated after it.
            if stamp.moving_again or stamp.stage == TrackingStage.DELIVERED:
                alerts.resolve(_exception_key(stamp.shipment_id))

    @activity.defn
    def stamp_warehouse(self, stamp: WarehouseStamp) -> None:
        with transaction(self.sessions) as session:
            ShipmentRepository(session).stamp_warehouse(stamp.shipment_id, stamp.step, stamp.at)
            ended = ENDED_BY_WAREHOUSE[stamp.step]
            _resolve_stages(AlertRepository(session), stamp.shipment_id, ended)

    @activity.defn
    def void_label(self, request: HandOver) -> bool:
        """Compensation before pickup. False when the carrier has the parcel already."""
        with transaction(self.sessions) as session:
            shipment = ShipmentRepository(session).get(request.shipment_id)
            if shipment is None or shipment.label_id is None:
                return True
            carrier, label_id = shipment.carrier, shipment.label_id
        try:
            self._carrier(carrier).void_label(label_id)
        except LabelAlreadyUsed:
            return False
        with transaction(self.sessions) as session:
            ShipmentRepository(session).void(request.shipment_id, request.at)
            AlertRepository(session).resolve_prefix(_sla_prefix(request.shipment_id))
        return True

    @activity.defn
    def carrier_tracking(self, request: HandOver) -> list[ParcelEvent]:
        """What the carrier recorded for the parcel, asked directly: its webhooks may be late."""
        with transaction(self.sessions) as session:
            shipment = ShipmentRepository(session).get(request.shipment_id)
            if shipment is None or shipment.tracking_number is None:
                return []
            carrier, tracking_number = shipment.carrier, shipment.tracking_number
        return self._carrier(carrier).tracking(tracking_number)

    def _carrier(self, name: str) -> Carrier:
        try:
            return self.carriers[name]
        except KeyError:
            known = ", ".join(sorted(self.carriers)) or "none"
            raise UnknownCarrier(
                f"no carrier named {name} is configured (known: {known})"
            ) from None


def _sla_prefix(shipment_id: str) -> str:
    """Every SLA alert of the shipment: its ship-by deadline's and its stages'."""
    return f"sla:{shipment_id}:"


def _sla_key(shipment_id: str, level: SlaLevel) -> str:
    return f"{_sla_prefix(shipment_id)}{level.value}"


def _stage_key(shipment_id: str, stage: Stage, level: SlaLevel) -> str:
    return f"{_sla_prefix(shipment_id)}{stage.value}:{level.value}"


def _exception_key(shipment_id: str) -> str:
    return f"carrier_exception:{shipment_id}"


def _resolve_stages(alerts: AlertRepository, shipment_id: str, stages: list[Stage]) -> None:
    for stage in stages:
        for level in (SlaLevel.YELLOW, SlaLevel.RED):
            alerts.resolve(_stage_key(shipment_id, stage, level))


def _late(level: SlaLevel) -> str:
    return "far over its time" if level == SlaLevel.RED else "running late"


def _minutes(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
