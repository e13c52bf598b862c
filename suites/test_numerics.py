"""Numerics: permuteOut bit for bit, gmmY and mmY by the chosen accuracy standard, on valid worlds
with zero counts, uneven splits and a rank that receives nothing.

One test per cell (clause, side, product, ep): see suites/_conformance.py for what it checks.
"""

AREA = "numerics"


def test_numerics(cell, conformance, request):
    conformance.check(cell, request.node)
