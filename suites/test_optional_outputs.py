"""Optional outputs and transposes: the shared expert, permuteOutFlag, transGmmWeight and
transMmWeight, and every optional pair rule from both sides.

One test per cell (clause, side, product, ep): see suites/_conformance.py for what it checks.
"""

AREA = "optional"


def test_optional_and_transposes(cell, conformance, request):
    conformance.check(cell, request.node)
