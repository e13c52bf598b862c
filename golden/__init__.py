"""The numerical judges: the accuracy standards (standards.py), the judges that compare an output
with its golden (judges.py), and the judge whose cost is linear in the data (linear.py). Each
operator's oracle (ops/<name>/oracle.py) computes its goldens and asks these."""

from golden.judges import JUDGES, Verdict, exact, judge

__all__ = ["JUDGES", "Verdict", "exact", "judge"]
