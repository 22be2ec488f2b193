"""Every activity a workflow calls, by the name the worker registers it under, with the types
of its argument and result.

Workflows call activities through these references, never by importing the activity classes:
the workflow sandbox then needs nothing but ``domain`` and pydantic from outside, and an
activity's I/O (the store, the providers) can't leak into workflow code. The worker test
checks that every name here is registered with the same argument and result types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from domain.addresses import AddressChange, AddressChangeClosed, Rerouted, RerouteRequest
from domain.audit_log import AuditLogPurge, AuditLogPurged
from domain.compensations import CompensateOrder, CompensationPage, OrderCompensated, OrderPage
from domain.exports import NightlyExport, NightlyExportNotice
from domain.messages import (
    AuditRecord,
    ConfirmationQuery,
    ConfirmationRecord,
    ConfirmationTerms,
    CreatePaymentRequest,
    OrderPackages,
    OutboxReport,
    OutboxRequest,
    PackageReservation,
    PackagesRecord,
    ParkedRefund,
    PaymentCheck,
    PaymentCheckRequest,
    PaymentView,
    PlannedReservation,
    PlanRequest,
    PresaleNotice,
    RefundMade,
    RefundRequest,
    RefundResult,
    ReminderRequest,
    ReservationResult,
    StockQuery,
    StockRequest,
    StockSnapshot,
    TransitionRecord,
    WindowOpening,
)
from domain.reconciliation import (
    FoundRefund,
    HealthReport,
    PaymentsReconciled,
    ReconciliationRequest,
    ReportRequest,
    RunSummary,
)
from domain.returns import (
    ExchangePayment,
    ReturnInput,
    ReturnLabel,
    ReturnNotice,
    ReturnRefund,
    ReturnRefunded,
    ReturnStamp,
    ReturnStock,
)
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
    WarehouseStamp,
)
from domain.sla import SlaRules, StageStatistics, StatisticsRequest
from domain.statements import StatementPulled, StatementPullRequest

Arg = TypeVar("Arg")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Step(Generic[Arg, Result]):
    """An activity as a workflow sees it: a name, what it takes, what it gives back."""

    name: str
    takes: type[Arg]
    gives: Any  # a type, or a generic alias such as list[ParcelEvent]


# --- the order -------------------------------------------------------------------------------

RECORD_TRANSITION = Step[TransitionRecord, None]("record_transition", TransitionRecord, None)
RECORD_PACKAGES = Step[PackagesRecord, None]("record_packages", PackagesRecord, None)
CONFIRMATION_TERMS = Step[ConfirmationQuery, ConfirmationTerms](
    "confirmation_terms", ConfirmationQuery, ConfirmationTerms
)
OPEN_CONFIRMATION_WINDOW = Step[WindowOpening, ConfirmationTerms](
    "open_confirmation_window", WindowOpening, ConfirmationTerms
)
REMIND_CUSTOMER = Step[ReminderRequest, bool]("remind_customer", ReminderRequest, bool)
RECORD_CONFIRMATION = Step[ConfirmationRecord, None](
    "record_confirmation", ConfirmationRecord, None
)
SEND_TO_AUDIT = Step[AuditRecord, None]("send_to_audit", AuditRecord, None)
CLOSE_AUDIT = Step[AuditRecord, None]("close_audit", AuditRecord, None)
TELL_PRESALE_DATE = Step[PresaleNotice, None]("tell_presale_date", PresaleNotice, None)

# --- stock -----------------------------------------------------------------------------------

STOCK_SNAPSHOT = Step[StockQuery, StockSnapshot]("stock_snapshot", StockQuery, StockSnapshot)
RESERVE_PACKAGES = Step[PackageReservation, ReservationResult](
    "reserve_packages", PackageReservation, ReservationResult
)
# Since order-shape-5 intake plans and reserves in this one step; the two above stay for
# orders begun before it.
PLAN_AND_RESERVE = Step[PlanRequest, PlannedReservation](
    "plan_and_reserve", PlanRequest, PlannedReservation
)
RELEASE_STOCK = Step[StockRequest, int]("release_stock", StockRequest, int)
RELEASE_PACKAGES = Step[OrderPackages, int]("release_packages", OrderPackages, int)
RESTOCK_RETURNED = Step[OrderPackages, None]("restock_returned", OrderPackages, None)

# --- payment ---------------------------------------------------------------------------------

CREATE_PAYMENT = Step[CreatePaymentRequest, PaymentView](
    "create_payment", CreatePaymentRequest, PaymentView
)
CHECK_PAYMENT = Step[PaymentCheckRequest, PaymentCheck](
    "check_payment", PaymentCheckRequest, PaymentCheck
)
CANCEL_PAYMENT = Step[PaymentCheckRequest, PaymentCheck](
    "cancel_payment", PaymentCheckRequest, PaymentCheck
)
REFUND_PAYMENT = Step[RefundRequest, RefundResult]("refund_payment", RefundRequest, RefundResult)
REFUND_AT_PROVIDER = Step[RefundRequest, RefundMade](
    "refund_at_provider", RefundRequest, RefundMade
)
RECORD_REFUND = Step[RefundMade, RefundResult]("record_refund", RefundMade, RefundResult)
PARK_REFUND = Step[ParkedRefund, None]("park_refund", ParkedRefund, None)

# --- shipments -------------------------------------------------------------------------------

CHECK_PACKAGE_STOCK = Step[HandOver, bool]("check_package_stock", HandOver, bool)
BUY_LABEL = Step[LabelRequest, LabelView]("buy_label", LabelRequest, LabelView)
HAND_OVER = Step[HandOver, int]("hand_over", HandOver, int)
STAMP_STAGE = Step[StageStamp, None]("stamp_stage", StageStamp, None)
STAMP_WAREHOUSE = Step[WarehouseStamp, None]("stamp_warehouse", WarehouseStamp, None)
STAGE_LIMITS = Step[SlaRules, StageLimits]("stage_limits", SlaRules, StageLimits)
PREPARE_PARCEL = Step[ParcelPreparation, PreparedParcel](
    "prepare_parcel", ParcelPreparation, PreparedParcel
)
RAISE_SLA_ALERT = Step[SlaBreach, None]("raise_sla_alert", SlaBreach, None)
RAISE_STAGE_ALERT = Step[StageBreach, None]("raise_stage_alert", StageBreach, None)
RAISE_PARCEL_EXCEPTION = Step[ParcelTrouble, None]("raise_parcel_exception", ParcelTrouble, None)
VOID_LABEL = Step[HandOver, bool]("void_label", HandOver, bool)
CARRIER_TRACKING = Step[HandOver, list[ParcelEvent]](
    "carrier_tracking", HandOver, list[ParcelEvent]
)

# --- scheduled work --------------------------------------------------------------------------

RECOMPUTE_STAGE_STATISTICS = Step[StatisticsRequest, list[StageStatistics]](
    "recompute_stage_statistics", StatisticsRequest, list[StageStatistics]
)
DELIVER_PENDING = Step[OutboxRequest, OutboxReport]("deliver_pending", OutboxRequest, OutboxReport)
PURGE_AUDIT_LOG = Step[AuditLogPurge, AuditLogPurged](
    "purge_audit_log", AuditLogPurge, AuditLogPurged
)
REQUEST_NIGHTLY_EXPORT = Step[NightlyExport, NightlyExportNotice](
    "request_nightly_export", NightlyExport, NightlyExportNotice
)

ORDERS_TO_COMPENSATE = Step[CompensationPage, OrderPage](
    "orders_to_compensate", CompensationPage, OrderPage
)
COMPENSATE_ORDER = Step[CompensateOrder, OrderCompensated](
    "compensate_order", CompensateOrder, OrderCompensated
)

# --- returns ---------------------------------------------------------------------------------

BUY_RETURN_LABEL = Step[ReturnInput, ReturnLabel]("buy_return_label", ReturnInput, ReturnLabel)
STAMP_RETURN = Step[ReturnStamp, None]("stamp_return", ReturnStamp, None)
RESTOCK_RETURN = Step[ReturnStock, None]("restock_return", ReturnStock, None)
QUARANTINE_RETURN = Step[ReturnStock, None]("quarantine_return", ReturnStock, None)
REFUND_RETURN = Step[ReturnRefund, ReturnRefunded]("refund_return", ReturnRefund, ReturnRefunded)
TELL_RETURN_CUSTOMER = Step[ReturnNotice, None]("tell_return_customer", ReturnNotice, None)
CREATE_EXCHANGE_PAYMENT = Step[ExchangePayment, PaymentView](
    "create_exchange_payment", ExchangePayment, PaymentView
)
EXCHANGE_PAID = Step[PaymentView, bool]("exchange_paid", PaymentView, bool)
CANCEL_EXCHANGE = Step[ReturnStock, None]("cancel_exchange", ReturnStock, None)

# --- address changes -------------------------------------------------------------------------

APPLY_ADDRESS = Step[AddressChange, None]("apply_address", AddressChange, None)
RELABEL_PACKAGE = Step[RerouteRequest, Rerouted]("relabel_package", RerouteRequest, Rerouted)
INTERCEPT_PACKAGE = Step[RerouteRequest, Rerouted]("intercept_package", RerouteRequest, Rerouted)
CLOSE_ADDRESS_CHANGE = Step[AddressChangeClosed, None](
    "close_address_change", AddressChangeClosed, None
)
ESCALATE_ADDRESS_CHANGE = Step[AddressChangeClosed, None](
    "escalate_address_change", AddressChangeClosed, None
)

# --- reconciliation ----------------------------------------------------------------------------

RECONCILE_STOCK = Step[ReconciliationRequest, RunSummary](
    "reconcile_stock", ReconciliationRequest, RunSummary
)
OPEN_RECONCILIATION_RUN = Step[ReconciliationRequest, RunSummary](
    "open_reconciliation_run", ReconciliationRequest, RunSummary
)
RECONCILE_PAYMENTS = Step[ReconciliationRequest, PaymentsReconciled](
    "reconcile_payments", ReconciliationRequest, PaymentsReconciled
)
NOTE_FOUND_REFUND = Step[FoundRefund, None]("note_found_refund", FoundRefund, None)
MAIL_RECONCILIATION_REPORT = Step[ReportRequest, HealthReport](
    "mail_reconciliation_report", ReportRequest, HealthReport
)
PULL_STATEMENT = Step[StatementPullRequest, StatementPulled](
    "pull_statement", StatementPullRequest, StatementPulled
)

# The benchmark's yardstick takes nothing and gives nothing.
NOOP = "noop"

EVERY_STEP: list[Step[Any, Any]] = [
    value for value in list(globals().values()) if isinstance(value, Step)
]
