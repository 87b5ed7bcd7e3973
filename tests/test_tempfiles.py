"""Temporary names within NAME_MAX whatever the output name; a host tag, and clean-up that removes
only temporaries of this host whose process is gone."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time

import pytest

from augcli import tempfiles
from augcli.tempfiles import TEMP_PATTERN, NameTooLong, remove_stale_temporaries, temp_name, write_atomic


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_host_tag_is_blake2b_of_the_host_name():
    assert tempfiles.host_tag() == hashlib.blake2b(socket.gethostname().encode(), digest_size=4).hexdigest()
    assert len(tempfiles.host_tag()) == 8


@pytest.mark.parametrize("name", [b"a.png", b"x" * 200 + b".png", b"y" * 255, "é".encode() * 127 + b"x",
                                  "日本".encode() * 42 + b".jpg", b"new\nline.png"])
@pytest.mark.parametrize("limit", [255, 143])
def test_temporary_names_never_exceed_the_limit(name, limit):
    tmp = temp_name(name, limit)
    assert len(tmp) <= limit and tmp.startswith(b".") and tmp.endswith(b".tmp")
    m = TEMP_PATTERN.match(tmp)
    assert m and m.group("host").decode() == tempfiles.host_tag() and int(m.group("pid")) == os.getpid()
    assert name.startswith(m.group("visible"))  # the visible part is the name, cut if need be
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        return
    tmp.decode("utf-8")  # a UTF-8 name is never cut inside a character


def test_write_atomic_for_a_name_of_exactly_255_bytes(tmp_path):
    name = "é".encode() * 126 + b"abc"
    assert len(name) == 255
    target = os.path.join(os.fsencode(tmp_path), name)
    assert write_atomic(target, b"data", overwrite=False)
    assert not write_atomic(target, b"other", overwrite=False)
    assert write_atomic(target, b"new", overwrite=True)
    assert os.listdir(os.fsencode(tmp_path)) == [name]
    with open(target, "rb") as fh:
        assert fh.read() == b"new"


def test_a_name_over_the_limit_is_a_clear_error(tmp_path):
    with pytest.raises(NameTooLong) as info:
        write_atomic(os.path.join(os.fsencode(tmp_path), b"z" * 256), b"data", overwrite=False)
    assert info.value.strerror == "name too long: 256 bytes, the file system allows 255"
    assert os.listdir(tmp_path) == []


def test_cleanup_removes_only_this_hosts_temporaries_of_dead_processes(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    gone, alive, me = dead_pid(), os.getppid(), tempfiles.host_tag()
    other = "0123abcd" if me != "0123abcd" else "fedc4321"
    files = {
        "mine_dead": f".a.png.{me}.{gone}.0011aabb.tmp",
        "mine_dead_deep": f"sub/.b\nc.png.{me}.{gone}.0011aabb.tmp",
        "mine_alive": f".a.png.{me}.{alive}.0011aabb.tmp",
        "other_host_dead": f".a.png.{other}.{gone}.0011aabb.tmp",  # another machine on a shared volume
        "old_style": f".a.png.{gone}.0011aabb.tmp",  # no host tag: whose it is cannot be told
        "output": "a.png",
    }
    for rel in files.values():
        (tmp_path / rel).write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == 2
    left = {k for k, rel in files.items() if (tmp_path / rel).exists()}
    assert left == {"mine_alive", "other_host_dead", "old_style", "output"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="zombies are read from /proc")
def test_a_killed_process_not_yet_reaped_counts_as_ended():
    """A worker killed with the whole run is a zombie until reaped: its temporaries are stale."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until the child has exited (a zombie, not reaped)
            with open(f"/proc/{pid}/stat", "rb") as fh:
                if fh.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    break
            time.sleep(0.01)
        assert not tempfiles._pid_alive(pid)
        assert tempfiles._pid_alive(os.getpid())
    finally:
        os.waitpid(pid, 0)


def test_a_writer_function_gives_the_same_file_as_its_bytes(tmp_path):
    data = bytes(range(256)) * 100
    assert write_atomic(tmp_path / "a.bin", data, overwrite=False)
    assert write_atomic(tmp_path / "b.bin", lambda fh: (fh.write(data[:1000]), fh.write(data[1000:])), overwrite=False)
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes() == data
    assert not write_atomic(tmp_path / "b.bin", lambda fh: fh.write(b"other"), overwrite=False)  # exists: left alone
    with pytest.raises(ZeroDivisionError):
        write_atomic(tmp_path / "c.bin", lambda fh: (fh.write(b"half"), 1 / 0), overwrite=False)
    assert not (tmp_path / "c.bin").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.bin"]


def test_missing_folders_are_made_and_a_file_in_the_way_is_an_oserror(tmp_path):
    target = tmp_path / "a" / "b" / "c" / "x.bin"
    assert write_atomic(target, b"one", overwrite=False)
    assert target.read_bytes() == b"one"
    assert write_atomic(tmp_path / "a" / "b" / "y.bin", b"two", overwrite=False)  # the folder exists now
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OSError):
        write_atomic(tmp_path / "file" / "z.bin", b"three", overwrite=False)
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["c", "y.bin"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_ctrl_c_as_the_temporary_is_created_leaves_no_temporary(tmp_path, monkeypatch, overwrite):
    """The interpreter runs a pending SIGINT handler as soon as os.open returns: the temporary it
    just created must still be removed (it was left behind, about once in ten Ctrl-C tests)."""
    real_open = os.open

    def open_then_interrupted(*args, **kw):
        real_open(*args, **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(tempfiles.os, "open", lambda *a, **kw: real_open(*a, **kw) if a[1] & os.O_DIRECTORY
                        else open_then_interrupted(*a, **kw))
    with pytest.raises(KeyboardInterrupt):
        tempfiles.write_atomic(tmp_path / "out.png", b"data", overwrite=overwrite)
    assert os.listdir(tmp_path) == []


def test_a_temporary_name_already_taken_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfiles, "temp_name", lambda name, limit=255: b".taken.tmp")
    (tmp_path / ".taken.tmp").write_bytes(b"another writer's")
    with pytest.raises(FileExistsError):
        tempfiles.write_atomic(tmp_path / "out.png", b"data", overwrite=False)
    assert (tmp_path / ".taken.tmp").read_bytes() == b"another writer's"
