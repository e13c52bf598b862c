"""The numerical oracle: expected outputs in float64, and the accuracy judges that compare."""

from golden.judges import JUDGES, Verdict, exact, judge
from golden.oracle import expected_outputs

__all__ = ["JUDGES", "Verdict", "exact", "expected_outputs", "judge"]
