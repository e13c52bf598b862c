"""Products: each supports the world sizes its epWorldSize clause lists (the published set)."""

from __future__ import annotations

from spec.clauses import CLAUSE, PRODUCTS

TITLES = {
    "A3": "Atlas A3 训练系列产品/Atlas A3 推理系列产品",
    "910_95": "昇腾910_95 AI处理器",
}


def world_sizes(product: str) -> tuple[int, ...]:
    """The epWorldSize values the published contract supports on `product`."""
    if product not in PRODUCTS:
        raise ValueError(f"unknown product {product!r}; accepted: {', '.join(PRODUCTS)}")
    return CLAUSE[f"PRODUCT.{product}.epWorldSize"].rule.values
