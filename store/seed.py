"""A small demo catalog: two warehouses, a handful of products, stock in the ledger."""

from __future__ import annotations

from store.db import SessionFactory, transaction
from store.models import Product, Warehouse
from store.repositories import CatalogRepository, StockRepository

WAREHOUSES = [
    Warehouse(
        code="HZ", name="Hangzhou", lat=30.27, lon=120.15, city="Hangzhou", province="Zhejiang"
    ),
    Warehouse(
        code="SH", name="Shanghai", lat=31.23, lon=121.47, city="Shanghai", province="Shanghai"
    ),
]

PRODUCTS = [
    Product(sku="TEA-001", name="Longjing green tea 250 g", price=1800, currency="usd",
            weight_grams=300, cold_chain=False, fragile=False),
    Product(sku="CUP-002", name="Celadon tea cup", price=2400, currency="usd",
            weight_grams=250, cold_chain=False, fragile=True),
    Product(sku="MOON-003", name="Fresh mooncakes, box of 6", price=3200, currency="usd",
            weight_grams=900, cold_chain=True, fragile=False),
    Product(sku="POT-004", name="Yixing clay teapot", price=68000, currency="usd",
            weight_grams=600, cold_chain=False, fragile=True),
]  # fmt: skip

STOCK = {
    ("TEA-001", "HZ"): 500,
    ("TEA-001", "SH"): 200,
    ("CUP-002", "HZ"): 120,
    ("MOON-003", "SH"): 80,
    ("POT-004", "HZ"): 10,
}


def seed_demo_catalog(sessions: SessionFactory) -> None:
    """Idempotent: stock arrives once under the reference ``seed``, however often this runs."""
    with transaction(sessions) as session:
        catalog = CatalogRepository(session)
        for warehouse in WAREHOUSES:
            catalog.upsert_warehouse(Warehouse(**_columns(warehouse)))
        for product in PRODUCTS:
            catalog.upsert_product(Product(**_columns(product)))
        session.flush()
        stock = StockRepository(session)
        for (sku, code), quantity in STOCK.items():
            stock.receive("seed", sku, code, quantity)


def _columns(row: Product | Warehouse) -> dict[str, object]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}
