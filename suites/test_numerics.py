"""Numerics: each operator's data movement bit for bit and its products by the chosen accuracy
standard (for the dispatch operator permuteOut, gmmY and mmY), on valid worlds with zero counts,
uneven splits and a rank that receives nothing.

One test per cell (operator, clause, side, product, ep, dtype): see suites/_conformance.py for
what it checks.
"""

AREA = "numerics"


def test_numerics(cell, conformance, request):
    conformance.check(cell, request.node)
