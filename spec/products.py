"""Products: each supports the world sizes its epWorldSize clause lists (the published set)."""

from __future__ import annotations

from spec.clauses import CLAUSE, PRODUCTS

TITLES = {
    "A3": "Atlas A3 训练系列产品/Atlas A3 推理系列产品",
    "910_95": "昇腾910_95 AI处理器",
}


# What aclrtGetSocName / torch_npu.npu.get_device_name() report on each product's dies.
SOC_PREFIXES = {
    "A3": ("Ascend910_93",),
    "910_95": ("Ascend910_95", "Ascend950"),
}


def product_of_soc(soc: str) -> str | None:
    """The product a SoC name belongs to, or None (an A2 host, say: Ascend910B...)."""
    return next((p for p, prefixes in SOC_PREFIXES.items()
                 if any(soc.startswith(x) for x in prefixes)), None)


def world_sizes(product: str) -> tuple[int, ...]:
    """The epWorldSize values the published contract supports on `product`."""
    if product not in PRODUCTS:
        raise ValueError(f"unknown product {product!r}; accepted: {', '.join(PRODUCTS)}")
    return CLAUSE[f"PRODUCT.{product}.epWorldSize"].rule.values
