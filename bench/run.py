#!/usr/bin/env python3
"""Side-by-side benchmark of augcli and peer tools on one documented job.

Every system is a script in bench/systems/ run as its own subprocess (own
session / process group) into a fresh temporary output folder.  Repetitions
alternate: rep 1 runs every system once, then rep 2, ... (the starting system
rotates each rep), so drift hits all systems alike.  Per run we record wall
time, files written, CPU seconds of the whole tree (os.wait4 rusage: user+sys
of the child and every descendant it reaped) and peak memory of the whole tree
(sum of RSS over all live processes of the child's process group/session,
sampled from /proc every 20 ms).  See bench/README.md.
"""
import argparse
import importlib.metadata
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SYSTEMS_DIR = HERE / "systems"
DEFAULT_IMAGES = ROOT.parent / "shared" / "bench-images"
SKIP_EXIT = 3
PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024

SYSTEMS = {  # name -> script in bench/systems/
    "augcli": "augcli.py",
    "augcli_nearest": "augcli_nearest.py",
    "floor": "floor.py",
    "keras": "keras.py",
    "augmentor": "augmentor.py",
    "albumentations": "albumentations_cv.py",
    "albumentationsx": "albumentationsx.py",
    "augcli_scalar": "augcli_scalar.py",
    "augcli_baseline": "augcli_baseline.py",
    "lean": "lean.py",  # a reference, not a peer: the least a run with augcli's promises does
}
JOBS = {  # name -> (input selection, copies, quality)
    "J1": ("all", 4, 90),
    "J2": ("largest10", 10, 90),
    "J3": ("all", 4, 90),
    "J4": ("cifar", 4, 90),
    "J5": ("all", 4, 90),
    "J6": ("yolo", 4, 90),  # J1's flags + --mosaic 1 on the photos as a YOLO-detect dataset (augcli only)
}
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
PEER_PACKAGES = ["pillow", "numpy", "scipy", "keras-preprocessing", "Augmentor",
                 "albumentations", "opencv-python-headless", "augcli"]


# --------------------------------------------------------------------------
# measuring one run


class TreeSampler(threading.Thread):
    """Polls /proc for all processes of one process group (or session).

    The measured child is started with start_new_session=True, so its pid is
    both pgid and sid and every descendant inherits them.  Each new pid's
    /proc/PID/stat is read once to classify it; members then cost one
    /proc/PID/statm read per tick.  RSS of processes is summed, so pages shared
    between processes (shared libraries) are counted once per process.
    """

    def __init__(self, root, interval=0.02, timeout=None):
        super().__init__(daemon=True)
        self.root, self.interval, self.timeout = root, interval, timeout
        self.members = {}          # pid -> True/False (member of the tree?)
        self.peak = 0              # bytes, sum over the tree
        self.pid_peak = {}         # pid -> bytes
        self.alive = set()         # members seen alive in the last tick
        self.timed_out = False
        self.stop = threading.Event()
        self.t0 = time.perf_counter()

    def _classify(self, pid):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            pgrp, sid = int(fields[2]), int(fields[3])
        except (OSError, IndexError, ValueError):
            return None
        return self.root in (pgrp, sid)

    def sample(self):
        total, alive = 0, set()
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            member = self.members.get(pid)
            if member is None:
                member = self._classify(pid)
                if member is None:
                    continue
                self.members[pid] = member
            if not member:
                continue
            try:
                with open(f"/proc/{pid}/statm", "rb") as f:
                    rss = int(f.read().split()[1]) * PAGE
            except (OSError, IndexError, ValueError):
                continue
            if rss:
                alive.add(pid)
            total += rss
            if rss > self.pid_peak.get(pid, 0):
                self.pid_peak[pid] = rss
        self.alive = alive
        self.peak = max(self.peak, total)

    def run(self):
        while not self.stop.is_set():
            self.sample()
            if self.timeout and time.perf_counter() - self.t0 > self.timeout:
                self.timed_out = True
                _kill_group(self.root)
                return
            self.stop.wait(self.interval)


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def busy_cpu_seconds():
    """CPU seconds spent by the whole machine so far (all CPUs, not idle/iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = sum(v[:8]) - v[3] - v[4]        # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def measure(cmd, env=None, timeout=None, cwd=ROOT):
    """Run cmd in a new session; return a dict of measurements."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy0 = busy_cpu_seconds()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, start_new_session=True)
        sampler = TreeSampler(proc.pid, timeout=timeout)
        sampler.t0 = t0
        sampler.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        except BaseException:              # e.g. Ctrl-C: the child has its own session
            _kill_group(proc.pid)
            raise
        wall = time.perf_counter() - t0
        busy = busy_cpu_seconds() - busy0
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop.set()
        sampler.join()
        # Helpers such as multiprocessing's resource tracker exit on their own
        # just after the main process; give them a moment, then kill the rest.
        deadline = time.perf_counter() + 2.0
        sampler.sample()
        while sampler.alive and time.perf_counter() < deadline:
            time.sleep(0.05)
            sampler.sample()
        leftovers = len(sampler.alive)
        if leftovers:                      # orphans of our own child: clean up
            _kill_group(proc.pid)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    others = [v for p, v in sampler.pid_peak.items() if p != proc.pid]
    return {
        "rc": proc.returncode, "wall": wall, "stdout": stdout, "stderr": stderr,
        "cpu": ru.ru_utime + ru.ru_stime, "peak": sampler.peak,
        # CPUs kept busy by anything else (other jobs, this driver) during the run
        "other": max(0.0, busy - ru.ru_utime - ru.ru_stime) / wall if wall else 0.0,
        "root_peak": sampler.pid_peak.get(proc.pid, 0),
        "child_peak": max(others, default=0), "nproc": len(sampler.pid_peak),
        "timed_out": sampler.timed_out, "leftovers": leftovers,
    }


def tail(text, lines=12):
    rows = [r for r in text.replace("\r", "\n").splitlines() if r.strip()]
    return "\n".join("    " + r[-200:] for r in rows[-lines:])


def count_files(folder):
    """Images written: hidden bookkeeping (augcli's .augcli/ run-stats folder) and the label files
    and dataset YAML a labelled job (J6) writes beside its images are not counted."""
    total = 0
    for _, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        total += sum(1 for f in files if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTS)
    return total


# --------------------------------------------------------------------------
# job inputs


def list_images(folder):
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            if os.path.splitext(name)[1].lower() in IMAGE_EXTS:
                found.append(Path(dirpath) / name)
    return found


def pixel_count(path):
    try:
        from PIL import Image
        with Image.open(path) as im:
            return im.size[0] * im.size[1]
    except Exception:  # no Pillow in this interpreter: fall back to bytes
        return path.stat().st_size


def job_input(selection, images, workdir):
    """Folder to feed the systems: the images folder, or a folder of symlinks."""
    if selection == "all":
        return images
    if selection == "cifar":  # made once, kept between invocations (about 8 s to make)
        from cifar_set import make_cifar_set
        return make_cifar_set(images, Path(tempfile.gettempdir()) / "augcli-bench-j4" / "cifar")
    if selection == "yolo":
        from yolo_set import make_yolo_set
        return make_yolo_set(images, Path(tempfile.gettempdir()) / "augcli-bench-j6" / "yolo")
    largest = sorted(list_images(images), key=pixel_count, reverse=True)[:10]
    dst_root = Path(workdir) / "largest10"
    for src in largest:
        dst = dst_root / src.parent.relative_to(images) / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(src)
    return dst_root


def warm_page_cache(folder):
    for path in list_images(folder):
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass


# --------------------------------------------------------------------------
# running a matrix of entries, alternating


class Entry:
    def __init__(self, label, system, job, inp, copies, quality, workers):
        self.label, self.system, self.job = label, system, job
        self.inp, self.copies, self.quality, self.workers = inp, copies, quality, workers
        self.expected = len(list_images(inp)) * copies
        self.runs = []
        self.status, self.note = "ok", ""

    def command(self, out):
        return [sys.executable, str(SYSTEMS_DIR / SYSTEMS[self.system]),
                "--input", str(self.inp), "--output", str(out),
                "--copies", str(self.copies), "--quality", str(self.quality),
                "--workers", str(self.workers), "--job", self.job]


def mark_skipped(entry, r, tag):
    """A system that exited with SKIP_EXIT: keep its last "skipped: reason" line as the note."""
    lines = [line for line in r["stdout"].splitlines() if line.startswith("skipped:")]
    entry.status = "skipped"
    entry.note = lines[-1][len("skipped:"):].strip() if lines else "exit 3"
    print(f"  {tag} {entry.label}: skipped: {entry.note}", flush=True)


def run_entry_once(entry, env, timeout, tag):
    parent = Path(tempfile.mkdtemp(prefix="augbench-"))
    out = parent / "out"
    try:
        r = measure(entry.command(out), env=env, timeout=timeout)
        r["files"] = count_files(out) if out.exists() else 0
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    if r["rc"] == SKIP_EXIT:
        mark_skipped(entry, r, tag)
        return
    if r["rc"] != 0 or r["timed_out"]:
        entry.status = "FAILED"
        entry.note = "timeout" if r["timed_out"] else f"exit {r['rc']}"
        print(f"  {tag} {entry.label}: FAILED ({entry.note}); stderr tail:\n"
              f"{tail(r['stderr']) or '    (empty)'}", flush=True)
        return
    entry.runs.append(r)
    extra = f", {r['leftovers']} leftover processes killed" if r["leftovers"] else ""
    short = "" if r["files"] == entry.expected else f" (expected {entry.expected})"
    print(f"  {tag} {entry.label}: {r['wall']:.2f} s, {r['files']} files{short}, "
          f"peak {r['peak'] / MIB:.0f} MiB over {r['nproc']} processes, "
          f"cpu {r['cpu']:.1f} s, other load {r['other']:.2f} CPUs{extra}", flush=True)


def warm_input(images, workdir):
    """A tiny input (first 2 images of each class) for untimed warm-up runs."""
    dst_root = Path(workdir) / "warmup"
    if not dst_root.exists():
        per_dir = {}
        for src in list_images(images):
            if per_dir.setdefault(src.parent, 0) < 2:
                per_dir[src.parent] += 1
                dst = dst_root / src.parent.relative_to(images) / src.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.symlink_to(src)
    return dst_root


def warm_up(entries, images, workdir, env, timeout):
    """One untimed small run per system (loads its libraries into the page cache)."""
    inp = warm_input(images, workdir)
    for e in entries:
        if e.status != "ok":
            continue
        w = Entry(e.label, e.system, e.job, inp, 1, e.quality, e.workers)
        parent = Path(tempfile.mkdtemp(prefix="augbench-"))
        try:
            r = measure(w.command(parent / "out"), env=env, timeout=timeout)
        finally:
            shutil.rmtree(parent, ignore_errors=True)
        if r["rc"] == SKIP_EXIT:
            mark_skipped(e, r, "[warm-up]")


def run_matrix(entries, reps, env, timeout, warm=None):
    if warm is not None:
        warm_up(entries, *warm, env, timeout)
    for rep in range(reps):
        active = [e for e in entries if e.status == "ok"]
        if not active:
            break
        k = rep % len(active)
        for entry in active[k:] + active[:k]:
            run_entry_once(entry, env, timeout, f"[rep {rep + 1}/{reps}]")


def summarize(entry):
    runs = entry.runs
    if not runs:
        return None
    walls = [r["wall"] for r in runs]
    return {
        "wall": statistics.median(walls), "min": min(walls), "max": max(walls),
        "ips": statistics.median(r["files"] / r["wall"] for r in runs),
        "peak": max(r["peak"] for r in runs) / MIB,
        "cpu": statistics.median(r["cpu"] for r in runs),
        "files": runs[-1]["files"], "n": len(runs),
        "other": statistics.median(r["other"] for r in runs),
    }


# --------------------------------------------------------------------------
# tables


TEXT_COLUMNS = {"job", "system", "status", "command"}


def render(headers, rows, markdown):
    if markdown:
        lines = ["| " + " | ".join(headers) + " |",
                 "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    left = [h in TEXT_COLUMNS for h in headers]
    fmt = lambda r: "  ".join(c.ljust(w) if lj else c.rjust(w)  # noqa: E731
                              for c, w, lj in zip(r, widths, left))
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def main_table(entries, floor_key="floor"):
    headers = ["job", "system", "status", "reps", "median wall s", "range s",
               "images/s", "x floor", "peak RSS MiB", "CPU s", "other load", "files"]
    floors = {e.job: summarize(e) for e in entries if e.system == floor_key}
    rows = []
    for e in entries:
        s = summarize(e)
        if s is None:
            rows.append([e.job, e.label, f"{e.status}: {e.note}"] + ["-"] * 9)
            continue
        fl = floors.get(e.job)
        ratio = f"{s['wall'] / fl['wall']:.1f}x" if fl else "-"
        files = f"{s['files']}" + ("" if s["files"] == e.expected else f"/{e.expected}")
        status = "ok" if e.status == "ok" else f"{e.status}: {e.note}"
        if any(r["files"] != e.expected for r in e.runs):
            status += " (file count off)"
        rows.append([e.job, e.label, status, str(s["n"]), f"{s['wall']:.2f}",
                     f"{s['min']:.2f}-{s['max']:.2f}", f"{s['ips']:.1f}", ratio,
                     f"{s['peak']:.0f}", f"{s['cpu']:.1f}", f"{s['other']:.2f}", files])
    return headers, rows


# --------------------------------------------------------------------------
# extras: scaling, startup, bigmem


def do_scaling(images, args, env, tmp):
    print("\n== scaling: J1 at 1 vs 2 workers (floor shown as the ideal) ==", flush=True)
    sel, copies, quality = JOBS["J1"]
    inp = job_input(sel, images, tmp)
    entries = [Entry(f"{s} w={w}", s, "J1", inp, copies, quality, w)
               for s in ("augcli", "floor") for w in (1, 2)]
    run_matrix(entries, args.reps, env, args.timeout,
               warm=None if args.no_warmup else (images, tmp))
    headers = ["system", "median wall s (w=1)", "median wall s (w=2)",
               "images/s (w=1)", "images/s (w=2)", "throughput ratio 2w/1w"]
    rows = []
    for s in ("augcli", "floor"):
        one, two = (summarize(e) for e in entries if e.system == s)
        if one is None or two is None:
            bad = next(e for e in entries if e.system == s and not e.runs)
            rows.append([s, f"{bad.status}: {bad.note}"] + ["-"] * 4)
            continue
        rows.append([s, f"{one['wall']:.2f}", f"{two['wall']:.2f}", f"{one['ips']:.1f}",
                     f"{two['ips']:.1f}", f"{two['ips'] / one['ips']:.2f}"])
    return "Scaling (J1, 1 vs 2 workers)", headers, rows


def augcli_command():
    script = Path(sys.executable).parent / "augcli"
    if script.exists():
        return [str(script)], str(script)
    return [sys.executable, "-m", "augcli"], f"{Path(sys.executable).name} -m augcli"


def do_startup(args, env, runs=10):
    print("\n== startup: median of %d runs ==" % runs, flush=True)
    base, shown = augcli_command()
    cases = [(f"{shown} --version", base + ["--version"]),
             (f"{shown} --help", base + ["--help"]),
             ("python -c pass (baseline)", [sys.executable, "-c", "pass"])]
    times = {label: [] for label, _ in cases}
    failed = {}
    for _ in range(runs):
        for label, cmd in cases:
            if label in failed:
                continue
            t0 = time.perf_counter()
            r = subprocess.run(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if r.returncode != 0:
                failed[label] = f"exit {r.returncode}"
                print(f"  {label}: FAILED (exit {r.returncode}); stderr tail:\n"
                      f"{tail(r.stderr)}", flush=True)
                continue
            times[label].append(dt)
    headers = ["command", "median ms", "min ms", "runs"]
    rows = []
    for label, _ in cases:
        t = times[label]
        if label in failed or not t:
            rows.append([label, f"FAILED: {failed.get(label, 'no runs')}", "-", "-"])
        else:
            rows.append([label, f"{statistics.median(t) * 1000:.0f}",
                         f"{min(t) * 1000:.0f}", str(len(t))])
    return "Startup", headers, rows


def make_big_images(folder, count=3, width=6000, height=4000):
    """Synthetic photo-like JPEGs: smooth colour gradients plus noise."""
    import numpy as np
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    for i in range(count):
        path = folder / f"big{i}.jpg"
        if path.exists():
            continue
        y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
        x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
        chans = []
        for c in range(3):
            a, b, ph = rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.0), rng.uniform(0, 6.3)
            g = 128 + 90 * np.sin(6.0 * (a * x + b * y) + ph + c)
            chans.append(g + rng.normal(0, 12, size=(height, width)).astype(np.float32))
        img = np.clip(np.stack(chans, axis=-1), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(path, quality=90)
    return folder.parent


def do_bigmem(args, env):
    width, height, count = 6000, 4000, 3
    print(f"\n== bigmem: {count} synthetic {width}x{height} JPEGs, 2 copies each ==",
          flush=True)
    try:
        inp = make_big_images(Path(tempfile.gettempdir()) / "augcli-bench-bigmem" / "big",
                              count, width, height)
    except ImportError as e:
        print(f"  bigmem needs numpy and Pillow in this interpreter ({e})")
        return None
    decoded = width * height * 3 / MIB
    entries = [Entry(f"{s} w={w}", s, "J1", inp, 2, 90, w)
               for s in ("augcli", "floor") for w in (1, 2)]
    run_matrix(entries, 1, env, args.timeout)
    headers = ["system", "status", "wall s", "tree peak MiB", "main proc peak MiB",
               "max worker peak MiB", "tree peak / worker MiB",
               "largest proc / decoded image"]
    rows = []
    for e in entries:
        if not e.runs:
            rows.append([e.label, f"{e.status}: {e.note}"] + ["-"] * 6)
            continue
        r = e.runs[0]
        largest = max(r["root_peak"], r["child_peak"]) / MIB
        rows.append([e.label, "ok", f"{r['wall']:.1f}", f"{r['peak'] / MIB:.0f}",
                     f"{r['root_peak'] / MIB:.0f}", f"{r['child_peak'] / MIB:.0f}",
                     f"{r['peak'] / MIB / e.workers:.0f}", f"{largest / decoded:.1f}x"])
    title = (f"Big images (decoded {width}x{height} RGB = {decoded:.0f} MiB; "
             "'worker' = any process other than the main one)")
    return title, headers, rows


# --------------------------------------------------------------------------


def versions():
    out = []
    for name in PEER_PACKAGES:
        try:
            out.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


def compile_bytecode(packages):
    """Write augcli's bytecode caches before timing. pip compiles them when it installs a package (as
    it did for every peer's modules), but an editable install leaves that to the first import, and
    with PYTHONDONTWRITEBYTECODE=1 (as on our development machines) no import ever writes them: every
    run would compile augcli's sources again, about 0.1 s per process that no installed user pays."""
    import compileall

    for pkg in packages:
        if pkg.is_dir():
            compileall.compile_dir(str(pkg), quiet=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES,
                    help="folder of class sub-folders (default: %(default)s)")
    ap.add_argument("--jobs", default="J1,J2,J3,J4,J5",
                    help="comma list of J1,J2,J3,J4,J5,J6, or 'none' (default: %(default)s)")
    ap.add_argument("--systems", default="augcli,floor,keras,augmentor,albumentations",
                    help="comma list from: " + ",".join(SYSTEMS))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=900,
                    help="seconds before one run is killed (default: %(default)s)")
    ap.add_argument("--no-warmup", action="store_true",
                    help="skip the untimed small warm-up run of each system")
    ap.add_argument("--out-md", type=Path, help="also write the tables as markdown")
    ap.add_argument("--scaling", action="store_true",
                    help="augcli (and floor) J1 at 1 vs 2 workers")
    ap.add_argument("--startup", action="store_true",
                    help="time `augcli --version` and `augcli --help`")
    ap.add_argument("--bigmem", action="store_true",
                    help="peak RSS on synthetic 6000x4000 images")
    args = ap.parse_args()

    jobs = [] if args.jobs.strip().lower() in ("", "none") else \
        [j.strip().upper() for j in args.jobs.split(",") if j.strip()]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    for j in jobs:
        if j not in JOBS:
            ap.error(f"unknown job {j!r} (known: {', '.join(JOBS)})")
    for s in systems:
        if s not in SYSTEMS:
            ap.error(f"unknown system {s!r} (known: {', '.join(SYSTEMS)})")

    images = args.images.resolve()
    needs_images = jobs or args.scaling
    if needs_images and not images.is_dir():
        print(f"note: images folder {images} not found; nothing to benchmark.")
        return 0

    env = dict(os.environ)
    compile_bytecode([ROOT / "augcli"] + ([Path(env["AUGCLI_BENCH_BASELINE"]) / "augcli"]
                                         if env.get("AUGCLI_BENCH_BASELINE") else []))
    header = (f"augcli bench: {os.cpu_count()} CPUs, Python {sys.version.split()[0]} "
              f"({sys.executable}), reps {args.reps}, workers {args.workers}\n"
              f"versions: {versions()}")
    print(header, flush=True)
    sections = []
    with tempfile.TemporaryDirectory(prefix="augbench-in-") as tmp:
        if needs_images:
            warm_page_cache(images)
        entries = []
        for job in jobs:
            sel, copies, quality = JOBS[job]
            inp = job_input(sel, images, tmp)
            n = len(list_images(inp))
            print(f"\n== {job}: {n} images x {copies} copies, quality {quality}, "
                  f"{args.workers} workers ==", flush=True)
            job_entries = [Entry(s, s, job, inp, copies, quality, args.workers)
                           for s in systems]
            run_matrix(job_entries, args.reps, env, args.timeout,
                       warm=None if args.no_warmup else (images, tmp))
            entries += job_entries
        if entries:
            sections.append(("Jobs (median of reps; x floor = median wall / floor's)",
                             *main_table(entries)))
        if args.scaling:
            sections.append(do_scaling(images, args, env, tmp))
    if args.startup:
        sections.append(do_startup(args, env))
    if args.bigmem:
        res = do_bigmem(args, env)
        if res:
            sections.append(res)

    for title, headers, rows in sections:
        print(f"\n{title}\n{render(headers, rows, markdown=False)}")
    if args.out_md:
        md = [f"# augcli benchmark\n\n{header.replace(chr(10), '  ' + chr(10))}\n"]
        md += [f"## {title}\n\n{render(headers, rows, markdown=True)}\n"
               for title, headers, rows in sections]
        args.out_md.parent.mkdir(parents=True, exist_ok=True)
        args.out_md.write_text("\n".join(md))
        print(f"\nmarkdown written to {args.out_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
