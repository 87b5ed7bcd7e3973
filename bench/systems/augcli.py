"""augcli itself, called exactly as a user would from the shell.

After checking that the package can be found, this script replaces itself
(os.execv) with `python -m augcli expand ...`, so no extra process sits in the
measured tree.  Run from the repo root, `-m` finds the working copy even when
augcli is not installed.
"""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("AUGCLI_BENCH_ROOT") or os.path.dirname(os.path.dirname(HERE))

# J1/J2: the common job.  Edit here if augcli's flag names change.
BASE_FLAGS = ["--format", "jpeg", "--rotate", "45", "--width-shift", "0.1",
              "--height-shift", "0.1", "--zoom", "0.25", "--hflip",
              "--fill-mode", "nearest", "--interpolation", os.environ.get("AUGCLI_BENCH_INTERPOLATION", "bilinear"),
              "--seed", "0", "--no-manifest", "-q"]
# J3 ("every op") = BASE_FLAGS + one flag for every other op augcli has (see `augcli ops`).
J3_FLAGS = ["--rot90", "--crop", "0.8", "--shear", "10", "--perspective", "0.05",
            "--brightness", "0.8:1.2", "--contrast", "0.8:1.2", "--saturation", "0.8:1.2", "--hue", "10",
            "--gamma", "0.8:1.2", "--lighting", "0.3", "--channel-shift", "20", "--grayscale", "0.1",
            "--blur", "1.5", "--erase", "2", "--noise", "8", "--salt-pepper", "0.02", "--jpeg-artifacts", "50"]


# J5 = J3 + every op added since J3 (issue 24: tone, CLAHE, sensor and occlusion), each at the
# value `augcli ops` gives as its default.
J5_FLAGS = ["--autocontrast", "0.2", "--equalize", "0.2", "--clahe", "4", "--sharpen", "0.5:1.5",
            "--posterize", "4:8", "--solarize", "128:256", "--invert", "0.1", "--motion-blur", "3:7",
            "--median-blur", "3:7", "--downscale", "0.25:0.5", "--iso-noise", "2:10", "--coarse-dropout", "1:8",
            "--grid-mask", "0.6", "--elastic", "300:20", "--grid-distort", "0.2", "--lens", "0.2"]


def find_augcli():
    # This file is itself called augcli.py: look past its own folder.
    sys.path[:] = [ROOT] + [p for p in sys.path if os.path.abspath(p or ".") != HERE]
    return importlib.util.find_spec("augcli")


def main():
    from common import parse_args          # noqa: E402 (needs HERE on sys.path)
    a = parse_args(__doc__)
    if find_augcli() is None:
        print("skipped: augcli not installed", flush=True)
        sys.exit(3)
    flags = list(BASE_FLAGS)
    if a.job in ("J3", "J5"):
        flags += J3_FLAGS
    if a.job == "J5":
        flags += J5_FLAGS
    if a.job == "J6":
        flags += ["--mosaic", "1"]
    argv = [sys.executable, "-m", "augcli", "expand",
            os.path.abspath(a.input), os.path.abspath(a.output),
            "-n", str(a.copies), "--quality", str(a.quality),
            "--workers", str(a.workers)] + flags
    os.chdir(ROOT)
    os.execv(sys.executable, argv)


if __name__ == "__main__":
    main()
