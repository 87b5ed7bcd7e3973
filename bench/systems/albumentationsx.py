"""AlbumentationsX 2.3.10 + OpenCV: the same script as albumentations_cv.py, run by the interpreter
of a separate virtual environment (AlbumentationsX installs the same `albumentations` module as
albumentations 2.0.8, so the two cannot share one). AlbumentationsX is AGPL: a benchmark peer only,
never a dependency of augcli. `make bench` creates the environment (AUGCLI_BENCH_ALBX, default
/tmp/augcli-bench-albx); 2.4 and later do not import without PyTorch, hence the pin.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.environ.get("AUGCLI_BENCH_ALBX", "/tmp/augcli-bench-albx")
PY = os.path.join(VENV, "bin", "python")

if not os.path.exists(PY):
    print(f"skipped: no AlbumentationsX environment at {VENV} (make bench creates it)", flush=True)
    sys.exit(3)
os.execv(PY, [PY, os.path.join(HERE, "albumentations_cv.py"), *sys.argv[1:]])
