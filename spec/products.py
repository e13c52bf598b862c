"""The products the suite knows: their titles and the SoC names their dies report.

Which world sizes an operator supports on a product is that operator's contract
(`Operator.world_sizes`, read off its PRODUCT clauses).
"""

from __future__ import annotations

TITLES = {
    "A3": "Atlas A3 训练系列产品/Atlas A3 推理系列产品",
    "910_95": "昇腾910_95 AI处理器",
}
PRODUCTS = tuple(TITLES)


# What aclrtGetSocName / torch_npu.npu.get_device_name() report on each product's dies.
SOC_PREFIXES = {
    "A3": ("Ascend910_93",),
    "910_95": ("Ascend910_95", "Ascend950"),
}


def product_of_soc(soc: str) -> str | None:
    """The product a SoC name belongs to, or None (an A2 host, say: Ascend910B...)."""
    return next((p for p, prefixes in SOC_PREFIXES.items()
                 if any(soc.startswith(x) for x in prefixes)), None)
