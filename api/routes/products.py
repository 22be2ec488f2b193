"""The catalog with what each warehouse can sell right now."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import SessionsDep
from api.schemas import ProductPublic, StockPublic
from store.db import transaction
from store.repositories import CatalogRepository

router = APIRouter(prefix="/products", tags=["catalog"])


@router.get("", response_model=list[ProductPublic])
async def list_products(*, sessions: SessionsDep) -> list[ProductPublic]:
    def read() -> list[ProductPublic]:
        with transaction(sessions) as session:
            return [
                ProductPublic(
                    sku=product.sku,
                    name=product.name,
                    price=product.price,
                    currency=product.currency,
                    weight_grams=product.weight_grams,
                    cold_chain=product.cold_chain,
                    fragile=product.fragile,
                    presale_ships_at=product.presale_ships_at,
                    stock=[
                        StockPublic(warehouse=lvl.warehouse, available=lvl.on_hand - lvl.reserved)
                        for lvl in levels
                    ],
                )
                for product, levels in CatalogRepository(session).catalog()
            ]

    return await run_in_threadpool(read)
