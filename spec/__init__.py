"""The contract of aclnnAlltoAllvGroupedMatMul as data: parameters, clauses, products, profiles.

Everything else in the suite (strategies, oracle, backends' expectations, reports) reads the
contract from here; nothing restates a range or a status code.
"""

from spec.case import Case, CaseFormatError, Fault, Shared
from spec.clauses import AREAS, CLAUSE, CLAUSES, PRODUCTS, Clause, clauses_for
from spec.expect import Expectation, expect
from spec.products import world_sizes
from spec.profiles import Profile, ProfileError
from spec.profiles import load as load_profile

__all__ = [
    "AREAS",
    "CLAUSE",
    "CLAUSES",
    "PRODUCTS",
    "Case",
    "CaseFormatError",
    "Clause",
    "Expectation",
    "Fault",
    "Profile",
    "ProfileError",
    "Shared",
    "clauses_for",
    "expect",
    "load_profile",
    "world_sizes",
]
