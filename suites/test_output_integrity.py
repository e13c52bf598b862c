"""Output integrity: every output element written, nothing written past the outputs or the
workspace, inputs unchanged, the same bits when run twice.

One test per cell (operator, clause, side, product, ep, dtype): see suites/_conformance.py for
what it checks.
"""

AREA = "integrity"


def test_output_integrity(cell, conformance, request):
    conformance.check(cell, request.node)
