"""CLI behaviour: exit codes, messages, streams, environment defaults, entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from augcli import __version__
from augcli.cli import cli


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def test_version_and_help():
    from augcli import kernels

    assert invoke("--version").output.strip() == (
        f"augcli {__version__} (kernels v{kernels.KERNEL_VERSION} {kernels.active()}; "
        f"this CPU has: {', '.join(kernels.available())})")
    res = invoke("expand", "--help")
    assert res.exit_code == 0 and "--rotate" in res.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["--rotate", "abc"], "'abc' is not a number"),
        (["--rotate", "10:5"], "LO must not exceed HI"),
        (["--rotate", "-5"], "a single value must be >= 0"),
        (["--zoom", "0:1"], "zoom=(0.0, 1.0) must be > 0"),
        (["--resize", "100"], "is not WxH"),
        (["--quality", "0"], "0 is not in the range 1<=x<=100"),
        (["--format", "gif"], "'gif' is not one of"),
        (["--p", "rotate=2", "--rotate", "5"], "probability must be between 0 and 1"),
        (["--p", "zoom=0.5", "--rotate", "5"], "not enabled by its flag"),
        (["--background", "nocolour"], "is not a colour"),
        (["--fill-mode", "mirror"], "'mirror' is not one of"),
    ],
)
def test_usage_errors_exit_2_with_a_message(dataset, tmp_path, args, message):
    res = invoke("expand", dataset, tmp_path / "out", *args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not (tmp_path / "out").exists()


def test_missing_input_dir_exits_2(tmp_path):
    res = invoke("expand", tmp_path / "nope", tmp_path / "out")
    assert res.exit_code == 2 and "does not exist" in res.output


def test_json_summary_on_stdout_and_line_on_stderr(dataset, tmp_path):
    res = invoke("expand", dataset, tmp_path / "out", "-n", 2, "--rotate", 5, "--seed", 3, "-j", 1, "--json")
    assert res.exit_code == 0
    summary = json.loads(res.stdout)
    assert summary["discovered"] == 4 and summary["written"] == 8 and summary["failed"] == 0
    assert summary["seed"] == 3 and summary["exit_code"] == 0
    assert res.stderr.startswith("augcli: 4 images, 8 written")


def test_quiet_prints_nothing_on_success(dataset, tmp_path):
    res = invoke("expand", dataset, tmp_path / "out", "--rotate", 5, "-j", 1, "-q")
    assert res.exit_code == 0 and res.stdout == "" and res.stderr == ""


def test_environment_variables_set_defaults(dataset, tmp_path):
    res = invoke("expand", dataset, tmp_path / "out", "--rotate", 5, "--json",
                 env={"AUGCLI_EXPAND_COPIES": "3", "AUGCLI_EXPAND_WORKERS": "1", "AUGCLI_EXPAND_SEED": "8"})
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["written"] == 12 and summary["seed"] == 8


def test_python_dash_m_and_console_script_work(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-m", "augcli", "--version"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and __version__ in out.stdout


def test_progress_bar_is_hidden_when_stderr_is_not_a_terminal(dataset, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-m", "augcli", "expand", str(dataset), str(tmp_path / "o"),
                          "--rotate", "5", "-j", "1", "--seed", "1"], capture_output=True, text=True, env=env)
    assert out.returncode == 0
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]  # only the summary line
    assert "it/s" not in out.stderr and "img/s" not in out.stderr and out.stdout == ""


def test_leaving_without_teardown_keeps_codes_output_and_exit_handlers():
    def run(body: str):
        code = "import atexit, sys, threading, time\nfrom augcli.cli import _leave\n" + body
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    done = run("atexit.register(lambda: print('handler ran'))\nprint('out', end=' ')\n_leave(3)")
    assert (done.returncode, done.stdout) == (3, "out handler ran\n")
    assert run("_leave(None)").returncode == 0
    text = run("_leave('augcli: a reason')")
    assert (text.returncode, text.stderr) == (1, "augcli: a reason\n")
    # another thread still running: the ordinary exit, which waits for it
    waited = run("threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()\n_leave(4)")
    assert (waited.returncode, waited.stdout) == (4, "thread done\n")
