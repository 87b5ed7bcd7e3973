"""Listing the input tree: names as bytes, symlinked folders followed safely.

Each real folder (device, inode) is read once: under the first path the walk reaches it by. The walk
goes in sorted path order, and a folder's entries are claimed when the folder is listed, its real
sub-folders before its symlinked ones (so a link beside the folder it points to never wins). A
second path to a folder already claimed (a loop such as ``images -> ..``, or two links to one
shared folder) gets one warning line and is not read. A symlinked folder that holds the output
folder, or lies inside it, is not followed (augcli never reads its own outputs). A broken link
gets one warning line, unless its name is an image candidate: then it is a source that fails as
``cannot read: No such file or directory``, as any unreadable image does. Without ``follow_outside``
a link (to an image or a folder) whose real path is outside the input folder gets one warning line
and is not followed.
"""

from __future__ import annotations

import os
import stat
from typing import Callable, Sequence

from .fsnames import inside, join, shown, to_text

Entry = tuple[str, str, bool]  # (sort key, name, is a folder)


class FolderWalk:
    """The listing state of one pass over an input tree (make a new one per pass)."""

    def __init__(self, root, output_dir, on_error: Callable[[str, str], None],
                 on_warning: Callable[[str, str], None], visible: Callable[[str], bool],
                 candidate: Callable[[str], bool], follow_outside: bool = True,
                 allowed_links: Sequence[str] = ()) -> None:
        self.root = root
        self.follow_outside = follow_outside
        self.allowed_links = frozenset(allowed_links)  # relative paths of links followed all the same
        self.real_root = os.path.realpath(os.fsencode(root))
        self.on_error, self.on_warning = on_error, on_warning
        self.visible, self.candidate = visible, candidate
        self.output = os.path.realpath(os.fsencode(output_dir))
        self.claimed: dict[tuple[int, int], str] = {}  # real folder -> the relative path it is read under
        try:
            st = os.stat(os.fsencode(root))
            self.claimed[(st.st_dev, st.st_ino)] = ""
        except OSError:
            pass

    def entries(self, rel: str) -> list[Entry] | None:
        """The visible candidate files and the sub-folders to walk of folder ``rel`` ("" for the
        root), sorted as their paths sort; None if the folder cannot be listed (reported)."""
        prefix = f"{rel}/" if rel else ""
        raw: list[tuple[str, os.DirEntry]] = []
        try:
            with os.scandir(join(self.root, rel)) as listing:
                for entry in listing:
                    name = to_text(entry.name)
                    if self.visible(name):
                        raw.append((name, entry))
        except OSError as exc:
            self.on_error(f"{rel or '.'}/", f"cannot list folder: {exc.strerror or exc}")
            return None
        raw.sort(key=lambda pair: pair[0])
        out: list[Entry] = []
        links: list[tuple[str, os.stat_result]] = []
        for name, entry in raw:
            try:
                is_link = entry.is_symlink()
                if not is_link and entry.is_dir(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    key = (st.st_dev, st.st_ino)
                    if key not in self.claimed:  # (a bind mount could show one folder twice)
                        self.claimed[key] = prefix + name
                        out.append((name + "/", name, True))
                    continue
            except OSError:
                is_link = False
            if not is_link:
                if self.candidate(name):
                    out.append((name, name, False))
                continue
            try:
                target = os.stat(entry.path)
            except FileNotFoundError:
                if self.candidate(name):
                    out.append((name, name, False))  # fails as "cannot read", like any unreadable image
                else:
                    self.on_warning(prefix + name, f"broken symbolic link (to {self._target(entry)}), ignored")
                continue
            except OSError as exc:
                if self.candidate(name):
                    out.append((name, name, False))  # e.g. a link loop: "Too many levels of symbolic links"
                else:
                    self.on_warning(prefix + name, f"symbolic link not followed: {exc.strerror or exc}")
                continue
            is_dir = stat.S_ISDIR(target.st_mode)
            if not (is_dir or self.candidate(name)):
                continue
            if not self.follow_outside and prefix + name not in self.allowed_links \
                    and not inside(os.path.realpath(entry.path), self.real_root):
                self.on_warning(prefix + name + ("/" if is_dir else ""),
                                f"symbolic link to outside the input folder (to {self._target(entry)}), not "
                                "followed (--follow-outside follows it)")
                continue
            if is_dir:
                links.append((name, target))
            else:
                out.append((name, name, False))
        for name, target in links:  # after the real sub-folders: those claim their folders first
            if self._claim_link(prefix + name, join(self.root, prefix + name), target):
                out.append((name + "/", name, True))
        out.sort()
        return out

    def _claim_link(self, rel: str, path: bytes, target: os.stat_result) -> bool:
        key = (target.st_dev, target.st_ino)
        first = self.claimed.get(key)
        if first is not None:
            if first == "" or rel.startswith(first + "/"):
                why = f"symlink loop (it points back to {shown(first) or '.'}/), not followed"
            else:
                why = f"not read twice: the same folder as {shown(first)}/"
            self.on_warning(rel + "/", why)
            return False
        real = os.path.realpath(path)
        if inside(self.output, real) or inside(real, self.output):
            self.on_warning(rel + "/", "symlinked folder not followed: it holds or is inside the output folder")
            return False
        self.claimed[key] = rel
        return True

    @staticmethod
    def _target(entry: os.DirEntry) -> str:
        try:
            return shown(to_text(os.readlink(entry.path)))
        except OSError:
            return "?"
