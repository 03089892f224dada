"""Do the paper's statements survive the consistent discretization? (not a test)

Solves cases/ding2023_{reduced,full}.toml with both discretizations (`tpfa`, the paper's
two-point network; `fem`, full-tensor Q1 finite elements) and prints:
- every statement of validation/ding2023.py checked on each solution (value and pass/fail);
- the `netsolve compare` summary: total current, rank correlations, GB classification changes,
  blocking GBs and the top-5 risk GBs of each discretization.
The numbers in validation/README.md come from this script.

    .venv/bin/python validation/ding2023_compare.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import netsolve  # noqa: E402
from ding2023 import solved_rows  # noqa: E402
from netsolve.compare import compare_results  # noqa: E402


def main() -> int:
    for kind in ("reduced", "full"):
        case = netsolve.load_case(ROOT.parent / "cases" / f"ding2023_{kind}.toml")
        tpfa, fem = (netsolve.solve(case, discretization=d) for d in ("tpfa", "fem"))
        rows_t, rows_f = solved_rows(tpfa, kind), solved_rows(fem, kind)
        width = max(len(r[0]) for r in rows_t)
        print(f"{'statement':<{width}}  {'tpfa':<56} {'fem':<56}")
        for (statement, v_t, ok_t), (_, v_f, ok_f) in zip(rows_t, rows_f):
            print(f"{statement:<{width}}  {v_t:<50} {'pass' if ok_t else 'FAIL':<5} "
                  f"{v_f:<50} {'pass' if ok_f else 'FAIL'}")
        s = compare_results(tpfa, fem).summary
        c = s["classification"]
        print(f"\n{kind}: total current tpfa {s['total_current_A']['tpfa']:.4g} A, "
              f"fem {s['total_current_A']['fem']:.4g} A; Spearman grain mean |J| "
              f"{s['spearman']['grain_mean_abs_J']:.2f}, GB |current| "
              f"{s['spearman']['gb_abs_current']:.2f}, risk {c['spearman_risk']:.2f}; "
              f"AMG iterations {s['solver']['tpfa']['iterations']} / "
              f"{s['solver']['fem']['iterations']}")
        print(f"  classification changed for {c['n_changed']} of {c['n_classified']} GBs")
        for name in ("tpfa", "fem"):
            print(f"  blocking ({name}): {', '.join(c['blocking'][name]) or '-'}; "
                  f"top-5 risk: {', '.join(c['top_risk'][name])}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
