"""augcli from another checkout, for A/B runs of a change: AUGCLI_BENCH_BASELINE names a checkout of
augcli with its kernels built in place (`git worktree add /tmp/base HEAD~1 && cd /tmp/base && python
setup.py build_ext --inplace`). Otherwise identical to augcli.py; skipped when the variable is unset."""
import os
import runpy
import sys

base = os.environ.get("AUGCLI_BENCH_BASELINE")
if not base or not os.path.isdir(os.path.join(base, "augcli")):
    print("skipped: AUGCLI_BENCH_BASELINE is not set to an augcli checkout", flush=True)
    sys.exit(3)
os.environ["AUGCLI_BENCH_ROOT"] = os.path.abspath(base)
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "augcli.py"), run_name="__main__")
