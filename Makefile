# Two commands set everything up on a fresh machine (see README):
#   make demo   - installs augcli into .venv and expands sample_images/ into demo_output/
#   make test   - installs the test dependencies into .venv and runs the test suite
#   make fuzz SEED=7 N=5000 - a longer seeded fuzz run of the file readers (tests/test_fuzz.py)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test fuzz bench asan clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=77"

# the C kernels are compiled at install: a change to them (or to the build) reinstalls
KERNEL_SOURCES := setup.py $(wildcard augcli/kernels/*.c augcli/kernels/*.h)

$(VENV)/.installed: pyproject.toml $(KERNEL_SOURCES) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(KERNEL_SOURCES) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml $(KERNEL_SOURCES) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/augcli expand sample_images demo_output -n 4 --rotate 20 --width-shift 0.1 --height-shift 0.1 \
		--zoom 0.15 --hflip --brightness 0.8:1.2 --seed 42 --on-exists overwrite
	@echo "augmented images and manifest.jsonl are in demo_output/"

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

# longer fuzzing by hand: make fuzz SEED=7 N=5000 (CI runs tests/test_fuzz.py with a fixed seed and count)
SEED ?= 1
N ?= 2000
fuzz: $(VENV)/.installed-test
	AUGCLI_FUZZ_SEED=$(SEED) AUGCLI_FUZZ_N=$(N) AUGCLI_FUZZ_BATCH=250 $(BIN)/python -m pytest -q tests/test_fuzz.py

# AlbumentationsX (AGPL, bench-only) installs the same module as albumentations: its own venv
ALBX ?= /tmp/augcli-bench-albx
$(ALBX)/bin/python:
	$(PYTHON) -m venv $(ALBX)
	$(ALBX)/bin/python -m pip install --quiet "albumentationsx==2.3.10" opencv-python-headless

bench: $(VENV)/.installed-bench $(ALBX)/bin/python
	AUGCLI_BENCH_ALBX=$(ALBX) $(BIN)/python bench/run.py --jobs J1,J2,J3,J4,J5 --systems floor,augcli,augcli_scalar,keras,augmentor,albumentations,albumentationsx --scaling --startup --bigmem

# The kernels built with AddressSanitizer, then the kernel tests against that build. A deliberate
# over-read must be caught first, or a clean run proves nothing. (SIMD gathers are invisible to
# ASan: tests/test_kernels.py's guard-page test covers those.)
ASAN_ENV = LD_PRELOAD=$$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0
asan: $(VENV)/.installed-test
	mkdir -p build
	CFLAGS="-O1 -g -fsanitize=address -fno-omit-frame-pointer -DAUGCLI_ASAN_SELFTEST" \
		$(BIN)/python setup.py -q build_ext --inplace --force
	status=0; \
	if $(ASAN_ENV) $(BIN)/python -c "from augcli.kernels import _warp; _warp._overread()" 2>build/asan-selftest.log; \
		then echo "asan: the deliberate over-read was NOT caught: the sanitizer is not live"; status=1; \
	elif ! grep -q heap-buffer-overflow build/asan-selftest.log; then cat build/asan-selftest.log; status=1; \
	else echo "asan: live (the deliberate over-read was caught)"; \
		$(ASAN_ENV) $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_kernels.py tests/test_remap_kernel.py tests/test_kernels_pixel.py tests/test_geometry.py tests/test_seeding.py tests/test_ops_sensor.py tests/test_downscale.py tests/test_ops_clahe.py tests/test_ops_sharpen.py tests/test_kernels_iso.py tests/test_kernels_noise_paths.py tests/test_kernels_lighting_paths.py tests/test_kernels_salt_paths.py tests/test_kernels_clahe_paths.py tests/test_elastic_lattice.py tests/test_bilinear_kernel.py tests/test_kernels_jpeg.py tests/test_kernels_median.py tests/test_kernels_bytemap.py tests/test_in_place.py tests/test_distort.py \
		|| status=1; fi; \
	$(BIN)/python setup.py -q build_ext --inplace --force; exit $$status

clean:
	rm -rf $(VENV) demo_output .pytest_cache .hypothesis build
