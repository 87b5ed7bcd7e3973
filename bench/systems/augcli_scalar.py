"""augcli forced onto its portable scalar kernels (AUGCLI_KERNELS=scalar): what a CPU without AVX2
(or an aarch64 machine, until it has its own SIMD path) gets. Otherwise identical to augcli.py."""
import os
import runpy

os.environ["AUGCLI_KERNELS"] = "scalar"
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "augcli.py"), run_name="__main__")
