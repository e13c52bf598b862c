"""Optional outputs and transposes: the shared expert, optional outputs and their flags, the
weights' transposes, and every optional pair rule from both sides.

One test per cell (operator, clause, side, product, ep, dtype): see suites/_conformance.py for
what it checks.
"""

AREA = "optional"


def test_optional_and_transposes(cell, conformance, request):
    conformance.check(cell, request.node)
