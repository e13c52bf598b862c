"""The round trip of one MoE layer: the dispatch operator then the combine on the same world
with the counts swapped (identity experts bit for bit, random experts by the accuracy
standard), and the combine as the dispatch's backward (ops/moe_layer/).

One test per cell (operator, clause, side, product, ep, dtype): see suites/_conformance.py for
what it checks. A backend implementing only one of the two operators makes every cell not
applicable, with the reason.
"""

AREA = "roundtrip"


def test_round_trip(cell, conformance, request):
    conformance.check(cell, request.node)
