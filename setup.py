"""Build augcli's C kernels (augcli/kernels/*.c) as extension modules.

Everything else about the package is declared in pyproject.toml. The kernels are plain C11 with
per-function SIMD target attributes; the best path is chosen at import time (augcli.kernels).
"""

from __future__ import annotations

import shutil
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NO_COMPILER = (
    "augcli: building its C kernels needs a C compiler and the Python development headers; "
    "install them (Debian/Ubuntu: apt-get install gcc python3-dev; Fedora: dnf install gcc python3-devel; "
    "macOS: xcode-select --install; Windows: the Visual Studio Build Tools) or install a prebuilt augcli wheel."
)


class BuildKernels(build_ext):
    """build_ext that stops with one clear sentence when no C compiler (or no Python.h) is there."""

    def build_extensions(self) -> None:
        if self.compiler.compiler_type == "unix":
            cc = self.compiler.compiler_so[0]
            if shutil.which(cc) is None:
                sys.exit(NO_COMPILER)
            for ext in self.extensions:
                # one arithmetic everywhere: no contraction of a*b+c into an FMA, whatever the CPU;
                # the functions the files of a module share stay inside it (only PyInit_* is exported)
                ext.extra_compile_args = ["-std=c11", "-O2", "-ffp-contract=off", "-fno-strict-aliasing",
                                          "-fvisibility=hidden", *ext.extra_compile_args]
        elif self.compiler.compiler_type == "msvc":
            for ext in self.extensions:
                ext.extra_compile_args = ["/O2", "/fp:precise", *ext.extra_compile_args]
        try:
            super().build_extensions()
        except Exception as exc:  # CompileError, LinkError, a missing Python.h ...
            sys.exit(f"augcli: building its C kernels failed ({exc}). {NO_COMPILER}")


KERNELS = [
    Extension("augcli.kernels._warp", ["augcli/kernels/warp.c", "augcli/kernels/warp_scalar.c",
                                        "augcli/kernels/warp_avx2.c", "augcli/kernels/warp_avx512.c"],
              depends=["augcli/kernels/common.h", "augcli/kernels/warp.h", "augcli/kernels/warp_simd.h"]),
    Extension("augcli.kernels._pixel", ["augcli/kernels/pixel.c", "augcli/kernels/filters.c", "augcli/kernels/median.c",
                                         "augcli/kernels/iso.c",
                                         "augcli/kernels/clahe.c", "augcli/kernels/unsharp.c",
                                         "augcli/kernels/lattice.c", "augcli/kernels/noise.c",
                                         "augcli/kernels/lighting.c", "augcli/kernels/salt.c",
                                         "augcli/kernels/resize.c", "augcli/kernels/jpegsim.c",
                                         "augcli/kernels/jpegsim_simd.c"],
              depends=["augcli/kernels/common.h", "augcli/kernels/pixel.h", "augcli/kernels/normal_table.h",
                       "augcli/kernels/median_networks.h", "augcli/kernels/simd8.h",
                       "augcli/kernels/jpegsim.h"]),
    Extension("augcli.kernels._seed", ["augcli/kernels/seed.c"]),
]

setup(ext_modules=KERNELS, cmdclass={"build_ext": BuildKernels})
