"""The names every process must agree on, spelled once.

The workers register workflows and handlers under these names, the API and the shipments
address them by these names, the store writes these values, and operators filter on these
search attributes in the Temporal UI. Renaming one here renames it everywhere; no other
module spells them as literals.
"""

from __future__ import annotations

from enum import StrEnum

from temporalio.common import SearchAttributeKey

# --- task queues -----------------------------------------------------------------------------

ORDERS_TASK_QUEUE = "orders"
SKELETON_TASK_QUEUE = "bench-skeleton"


# --- workflow IDs: business IDs, so a duplicate start finds the running workflow --------------


def order_workflow_id(order_id: str) -> str:
    return f"order-{order_id}"


def shipment_workflow_id(order_id: str, package: int) -> str:
    return f"shipment-{order_id}-{package}"


def compensation_workflow_id(batch_id: str) -> str:
    return f"compensation-{batch_id}"


def return_workflow_id(rma: str) -> str:
    return f"return-{rma}"


def reconciliation_workflow_id(run_id: int) -> str:
    return f"reconciliation-{run_id}"


# --- workflows and their messages ------------------------------------------------------------


class WorkflowName(StrEnum):
    ORDER = "OrderWorkflow"
    SHIPMENT = "ShipmentWorkflow"
    SLA_STATISTICS = "SlaStatisticsWorkflow"
    NOTIFICATION_OUTBOX = "NotificationOutboxWorkflow"
    AUDIT_LOG_PURGE = "AuditLogPurgeWorkflow"
    NIGHTLY_EXPORT = "NightlyExportWorkflow"
    COMPENSATION = "CompensationWorkflow"
    RETURN = "ReturnWorkflow"
    RECONCILIATION = "ReconciliationWorkflow"
    STATEMENT_PULL = "StatementPullWorkflow"
    RECONCILIATION_REPORT = "ReconciliationReportWorkflow"
    SKELETON = "SkeletonWorkflow"


class OrderSignal(StrEnum):
    PAYMENT_NOTIFIED = "payment_notified"
    CARRIER_EVENT = "carrier_event"  # a person playing the carrier, for every parcel
    SHIPMENT_PROGRESS = "shipment_progress"  # from the order's own shipments
    SLA_LEVEL = "sla_level"  # from the order's own shipments
    STOCK_ARRIVED = "stock_arrived"  # a warehouse receipt: a backordered order looks again now
    COMPENSATE = "compensate"  # a batch compensation: give this much back per unit of a SKU
    RETURN_PASSED = "return_passed"  # a returned parcel passed inspection: refund its lines
    REFUND_FOUND = "refund_found"  # reconciliation found a refund made at the provider
    PARCEL_EVENT = "parcel_event"  # a carrier's report on the parcel the order runs itself


class OrderUpdate(StrEnum):
    PAYMENT_DETAILS = "payment_details"
    CANCEL = "cancel"
    CONFIRM_RECEIPT = "confirm_receipt"
    REFUND = "refund"
    CHANGE_ADDRESS = "change_address"
    WAREHOUSE_SCAN = "warehouse_scan"  # a scan into the parcel the order runs itself


class OrderQuery(StrEnum):
    STATUS = "status"


class CompensationQuery(StrEnum):
    PROGRESS = "progress"


class ReturnUpdate(StrEnum):
    DETAILS = "details"  # the label, once bought
    SCAN = "scan"
    INSPECT = "inspect"


class ShipmentSignal(StrEnum):
    CARRIER_EVENT = "carrier_event"
    CANCEL = "cancel"
    LABEL_CHANGED = "label_changed"  # the order bought it a new label (a new address)


class ShipmentUpdate(StrEnum):
    WAREHOUSE_SCAN = "warehouse_scan"


class ShipmentQuery(StrEnum):
    STAGES_REACHED = "stages_reached"


# --- search attributes: what operators filter on in the Temporal UI --------------------------

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
SLA_LEVEL = SearchAttributeKey.for_keyword("SlaLevel")
SEARCH_ATTRIBUTES = (ORDER_STATUS, CHANNEL, CUSTOMER_ID, SLA_LEVEL)


# --- values that cross a boundary ------------------------------------------------------------


class PaymentVerdict(StrEnum):
    """The provider's answer about a payment, judged against the order."""

    PAID = "paid"
    UNPAID = "unpaid"
    MISMATCH = "mismatch"  # paid, but not what the order asked for: a person decides


class ShipmentOutcome(StrEnum):
    """How a package's shipment ended, as its order learns it."""

    DELIVERED = "delivered"
    RETURNED = "returned"  # the carrier brought it back
    CANCELLED = "cancelled"  # its label voided before pickup
    BLOCKED = "blocked"  # its stock was no longer reserved for it: never left


class ParcelTracker(StrEnum):
    """Which workflow follows a parcel: a ShipmentWorkflow of its own, or its order (an order
    of one package runs its parcel's way itself). Carriers' reports and warehouse scans go
    to that workflow."""

    SHIPMENT = "shipment"
    ORDER = "order"

    def workflow_id(self, order_id: str, package: int) -> str:
        if self == ParcelTracker.ORDER:
            return order_workflow_id(order_id)
        return shipment_workflow_id(order_id, package)

    @property
    def report_signal(self) -> OrderSignal | ShipmentSignal:
        """The signal a carrier's report reaches that workflow by."""
        if self == ParcelTracker.ORDER:
            return OrderSignal.PARCEL_EVENT
        return ShipmentSignal.CARRIER_EVENT

    @property
    def scan_update(self) -> OrderUpdate | ShipmentUpdate:
        """The update a warehouse scan reaches that workflow by."""
        if self == ParcelTracker.ORDER:
            return OrderUpdate.WAREHOUSE_SCAN
        return ShipmentUpdate.WAREHOUSE_SCAN


class ShipmentStatus(StrEnum):
    """A shipment row's status: the label, then the furthest stage the carrier reported."""

    LABEL_BOUGHT = "label_bought"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    RETURNED = "returned"
    VOIDED = "voided"


class MovementKind(StrEnum):
    """A row of the stock ledger: what it did to a stock level."""

    RECEIPT = "receipt"  # on hand + q
    RESERVE = "reserve"  # reserved + q
    RELEASE = "release"  # reserved - q
    SHIP = "ship"  # on hand - q, reserved - q
    RESTOCK = "restock"  # on hand + q: a returned parcel back on the shelf
    QUARANTINE = "quarantine"  # nothing: returned units that failed inspection, set aside


class AlertKind(StrEnum):
    SLA = "sla"
    CARRIER_EXCEPTION = "carrier_exception"
    LOW_STOCK = "low_stock"
    AUDIT = "audit"
    NOTIFICATION = "notification"
    RETURN = "return"  # a returned parcel failed inspection: support decides
    ADDRESS = "address"  # a parcel could not be rerouted to a new address: support decides
    STOCK_MISMATCH = "stock_mismatch"  # reconciliation: a level or a reservation is wrong
    PAYMENT_MISMATCH = "payment_mismatch"  # reconciliation: provider, orders and ledger differ
    REFUND = "refund"  # a refund the provider refused or never answered: parked for finance


class AlertLevel(StrEnum):
    YELLOW = "yellow"
    RED = "red"


class AlertRole(StrEnum):
    """Who must act on an alert."""

    WAREHOUSE = "warehouse"
    SUPPORT = "support"
    FINANCE = "finance"
