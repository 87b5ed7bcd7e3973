"""Temporary names within NAME_MAX whatever the output name; a host tag, and clean-up that removes
only temporaries of this host whose process is gone."""

from __future__ import annotations

import errno
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
        assert not tempfiles.pid_alive(pid)
        assert tempfiles.pid_alive(os.getpid())
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


def _count_folder_opens(monkeypatch) -> list:
    opened: list = []
    real_open = os.open

    def counting(path, flags, *a, **kw):
        fd = real_open(path, flags, *a, **kw)
        if flags & os.O_DIRECTORY:
            opened.append(path)
        return fd

    monkeypatch.setattr(tempfiles.os, "open", counting)
    return opened


def test_folders_kept_opens_each_output_folder_once(tmp_path, monkeypatch):
    opened = _count_folder_opens(monkeypatch)
    with tempfiles.folders_kept():
        for i in range(4):
            assert write_atomic(tmp_path / "a" / f"{i}.jpg", b"x%d" % i, overwrite=False)
            assert write_atomic(tmp_path / "b" / f"{i}.jpg", b"y%d" % i, overwrite=False)
        assert not write_atomic(tmp_path / "a" / "0.jpg", b"other", overwrite=False)
    assert len(opened) == 2
    assert sorted(os.listdir(tmp_path / "a")) == [f"{i}.jpg" for i in range(4)]
    assert (tmp_path / "a" / "0.jpg").read_bytes() == b"x0" and (tmp_path / "b" / "3.jpg").read_bytes() == b"y3"
    write_atomic(tmp_path / "a" / "9.jpg", b"z", overwrite=False)  # outside the block: opened per file
    assert len(opened) == 3


def test_a_kept_folder_removed_meanwhile_is_made_again(tmp_path):
    import shutil

    with tempfiles.folders_kept():
        assert write_atomic(tmp_path / "a" / "1.jpg", b"one", overwrite=False)
        shutil.rmtree(tmp_path / "a")
        assert write_atomic(tmp_path / "a" / "2.jpg", b"two", overwrite=False)
    assert os.listdir(tmp_path / "a") == ["2.jpg"] and (tmp_path / "a" / "2.jpg").read_bytes() == b"two"


def _fake_renameat2(err):
    import ctypes

    calls = []

    def fake(*args):
        calls.append(args)
        ctypes.set_errno(err)
        return -1

    return fake, calls


@pytest.mark.parametrize("err", [errno.EINVAL, errno.ENOSYS])
def test_without_rename_noreplace_an_existing_target_is_still_never_replaced(tmp_path, monkeypatch, err):
    fake, calls = _fake_renameat2(err)
    monkeypatch.setattr(tempfiles, "_renameat2", fake)
    with tempfiles.folders_kept():
        assert write_atomic(tmp_path / "out.jpg", b"first", overwrite=False)
        assert not write_atomic(tmp_path / "out.jpg", b"second", overwrite=False)
        assert write_atomic(tmp_path / "other.jpg", b"third", overwrite=False)
    assert len(calls) == 1  # the folder's file system is asked once, then linked into
    assert sorted(os.listdir(tmp_path)) == ["other.jpg", "out.jpg"]
    assert (tmp_path / "out.jpg").read_bytes() == b"first"


def test_rename_noreplace_leaves_an_existing_target_and_no_temporary(tmp_path, monkeypatch):
    if tempfiles._libc_renameat2() is None:
        pytest.skip("no renameat2 in this C library")
    unlinked = []
    real_unlink = os.unlink
    monkeypatch.setattr(tempfiles.os, "unlink", lambda *a, **kw: (unlinked.append(a[0]), real_unlink(*a, **kw))[1])
    assert write_atomic(tmp_path / "out.jpg", b"first", overwrite=False)
    assert unlinked == []  # moved into place in one step, not linked and then removed
    assert not write_atomic(tmp_path / "out.jpg", b"second", overwrite=False)
    assert os.listdir(tmp_path) == ["out.jpg"] and (tmp_path / "out.jpg").read_bytes() == b"first"


def test_a_temporary_name_left_by_a_process_with_our_pid_is_skipped(tmp_path, monkeypatch):
    names = iter([b".taken.tmp", b".free.tmp"])
    monkeypatch.setattr(tempfiles, "temp_name", lambda name, limit=255: next(names))
    (tmp_path / ".taken.tmp").write_bytes(b"an earlier process's")
    assert write_atomic(tmp_path / "out.png", b"data", overwrite=False)
    assert sorted(os.listdir(tmp_path)) == [".taken.tmp", "out.png"]
    assert (tmp_path / ".taken.tmp").read_bytes() == b"an earlier process's"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_names_temporaries_with_its_own_pid():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write, tempfiles.temp_name(b"a.png") + b"\n" + str(os.getpid()).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as fh:
        name, child = fh.read().split(b"\n")
    assert int(TEMP_PATTERN.match(name).group("pid")) == int(child) != os.getpid()


def test_private_folders_of_dead_runs_are_swept_and_others_kept(tmp_path, monkeypatch):
    """A run killed with SIGKILL cannot remove its private folder (the label mirror of an object-store
    input): the next run removes those of dead processes of this machine, and only those."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(proc.stdout)  # ended and reaped
    host = tempfiles.host_tag()
    other = "0" * 8 if host != "0" * 8 else "1" * 8
    names = {"dead": f"augcli-labels-{host}-{dead}-abc", "live": f"augcli-labels-{host}-{os.getpid()}-abc",
             "elsewhere": f"augcli-labels-{other}-{dead}-abc", "unrelated": f"augcli-other-{host}-{dead}-abc"}
    for name in names.values():
        (tmp_path / name / "in").mkdir(parents=True)
        (tmp_path / name / "in" / "a.txt").write_text("x")
    made = tempfiles.private_folder("augcli-labels-")
    assert made.is_dir() and made.parent == tmp_path and made.name.startswith(f"augcli-labels-{host}-{os.getpid()}-")
    assert not (tmp_path / names["dead"]).exists()
    assert all((tmp_path / names[k]).is_dir() for k in ("live", "elsewhere", "unrelated"))
