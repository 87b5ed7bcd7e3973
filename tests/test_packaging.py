"""The source distribution carries everything needed to build the C kernels: build an sdist, build a
wheel from it (the compiler runs), install that wheel into a fresh virtual environment and warp."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO

pytest.importorskip("build")


def run(*cmd, cwd=None):
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{cmd}: {out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def test_sdist_builds_and_installs_a_working_kernel(tmp_path):
    run(sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", tmp_path / "dist", REPO)
    (sdist,) = (tmp_path / "dist").glob("augcli-*.tar.gz")
    names = tarfile.open(sdist).getnames()
    for needed in ("augcli/kernels/warp.c", "augcli/kernels/common.h", "setup.py", "pyproject.toml"):
        assert any(n.endswith(needed) for n in names), f"{needed} is not in the sdist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "wheels",
        sdist)
    (wheel,) = (tmp_path / "wheels").glob("augcli-*.whl")
    assert any("/_warp" in n for n in zipfile.ZipFile(wheel).namelist()), "the wheel has no compiled kernel"
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    py = venv / "bin" / "python"
    # install the wheel's files by unpacking it (no network, no pip needed in the fresh venv)
    site = run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("import augcli.kernels as k; "
             "out = k.warp(bytes(range(16)), (2, 2), 4, [[1, 0, 0], [0, 1, 0], [0, 0, 1]], (2, 2), "
             "fill='nearest', interpolation='bilinear', cval=bytes(4)); "
             "assert bytes(out) == bytes(range(16)); print(k.active(), k.KERNEL_VERSION)")
    assert run(py, "-I", "-c", probe).split()[1] == "1"


def test_the_kernels_compile_without_their_simd_paths(tmp_path):
    # what an aarch64 (or any non-x86) build compiles: the portable code alone, warning-free
    import shutil
    import sysconfig

    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    for source in sorted((REPO / "augcli" / "kernels").glob("*.c")):
        run(cc, "-std=c11", "-Wall", "-Werror", "-DAUGCLI_X86=0", "-fsyntax-only",
            f"-I{sysconfig.get_paths()['include']}", source)
