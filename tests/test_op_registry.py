"""The op registry and its flags: --help stays light, an op is added in one file, the flags' rules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

import augcli
from augcli import cli as cli_module
from augcli import imageio
from augcli import warping as W
from augcli.ops import FLAGS, OPS, Zoom, _registry, build, colour
from augcli.ops.flags import Flag, Number, Span, Switch

PACKAGE = os.path.dirname(augcli.__file__)


def run_python(code: str, pythonpath: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([pythonpath, *sys.path])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd)


def test_help_imports_neither_numpy_nor_pillow(tmp_path):
    code = textwrap.dedent("""
        import sys
        from click.testing import CliRunner
        from augcli.cli import cli
        for args in (["--help"], ["expand", "--help"], ["preview", "--help"], ["replay", "--help"], ["ops"],
                     ["stats", "--help"]):
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 0, (args, result.output)
            assert "Usage" in result.output or "rot90" in result.output, args
        # nor the C kernels: --help must not load the extension
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("numpy", "PIL") or m.startswith("augcli.kernels")))
    """)
    out = run_python(code, os.path.dirname(PACKAGE), tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# A new op, written the way the README's "Adding an op" says: one class in its family's module,
# listed in that module's FAMILY. Nothing else in the package changes.
BITCRUSH = '''

@dataclass(frozen=True, kw_only=True)
class Bitcrush(Op):
    """Keep the top ``bits`` bits of every colour value. Params: none."""

    name: ClassVar[str] = "bitcrush"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--bitcrush", Number(1, 8, whole=True), "Keep the top B bits of every value.",
             metavar="B", field="bits"),
    )
    params: ClassVar[str] = "none; the top B bits of each value kept"
    default: ClassVar[str] = "4"
    summary: ClassVar[str] = "bit crush (PIL ImageOps.posterize)"
    bits: int = 8

    def apply(self, image, params):
        from PIL import ImageOps

        return ImageOps.posterize(image, self.bits)

'''

CHECK_BITCRUSH = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from click.testing import CliRunner
    from PIL import Image
    import augcli
    from augcli.cli import cli
    from augcli.ops import OPS, build

    inp = Path("in"); inp.mkdir()
    Image.radial_gradient("L").convert("RGB").resize((40, 30)).save(inp / "a.png")
    help_text = CliRunner().invoke(cli, ["expand", "--help"]).output
    table = CliRunner().invoke(cli, ["ops", "--markdown"]).output
    run = CliRunner().invoke(cli, ["expand", "in", "out", "--bitcrush", "2", "--rotate", "5", "--seed", "1",
                                   "-j", "1", "-q"])
    records = [json.loads(line) for line in Path("out/manifest.jsonl").read_text().splitlines()]
    values = set(Image.open("out/a_0.png").getdata(0))
    print(json.dumps({
        "package": augcli.__file__, "help": help_text, "table": table, "run": [run.exit_code, run.output],
        "order": list(OPS), "built": repr(build(bitcrush=3)), "pipeline": records[0]["config"]["pipeline"]["ops"],
        "steps": records[1]["ops"], "values": sorted(values),
    }))
""")


def test_an_op_added_in_its_family_module_alone_reaches_help_build_table_and_runs(tmp_path):
    root = tmp_path / "src"
    shutil.copytree(PACKAGE, root / "augcli", ignore=shutil.ignore_patterns("__pycache__"))
    family = root / "augcli" / "ops" / "colour.py"
    text = family.read_text()
    marker = "\n\n# canonical order within the family"
    assert text.count(marker) == 1 and text.count("FAMILY = (Brightness, ") == 1
    text = text.replace(marker, BITCRUSH.rstrip("\n") + marker)
    family.write_text(text.replace("FAMILY = (Brightness, ", "FAMILY = (Bitcrush, Brightness, "))

    out = run_python(CHECK_BITCRUSH, str(root), tmp_path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["package"].startswith(str(root))  # the edited copy ran, not the installed package
    assert "--bitcrush B" in got["help"] and "Keep the top B bits of every value." in got["help"]
    assert ("| `bitcrush` | `--bitcrush B` | none; the top B bits of each value kept | 4 | "
            "bit crush (PIL ImageOps.posterize) |") in got["table"]
    assert got["order"].index("bitcrush") == got["order"].index("brightness") - 1
    assert got["built"] == "(Bitcrush(p=1.0, bits=3),)"
    assert got["run"] == [0, ""]
    assert {"op": "bitcrush", "bits": 2, "p": 1.0} in got["pipeline"]
    assert {"op": "bitcrush", "applied": True} in got["steps"]
    assert got["values"] and all(v % 64 == 0 for v in got["values"])  # 2 bits kept: 0, 64, 128, 192


def test_every_op_flag_is_an_option_of_expand_and_preview_and_a_keyword_of_build():
    for command in (cli_module.expand, cli_module.preview):
        options = {opt for p in command.params for opt in p.opts}
        assert {flag.name for flag in FLAGS} <= options, command.name
    assert len(FLAGS) == sum(len(cls.flags) for cls in OPS.values())
    with pytest.raises(TypeError, match="unexpected keyword argument 'kaleidoscope'"):
        build(kaleidoscope=(0, 1))


def test_modifier_flags_need_their_op_except_zoom_keep_aspect():
    with pytest.raises(ValueError, match="^--crop-mode needs --crop$"):
        build(crop_mode="corners")
    with pytest.raises(ValueError, match="^--salt-ratio needs --salt-pepper$"):
        build(salt_ratio=0.2)
    assert build(zoom_keep_aspect=True) == ()  # ignored without --zoom, as it always was
    assert build(zoom=(0.8, 1.2), zoom_keep_aspect=True) == (Zoom(zoom_range=(0.8, 1.2), keep_aspect=True),)
    # either shift flag enables the shift; the other keeps its default
    (shift,) = build(height_shift=(-3.0, 3.0))
    assert shift.width_range == (0.0, 0.0) and shift.height_range == (-3.0, 3.0)
    # a zero value is given, not off
    (grey,) = build(grayscale=0.0)
    assert grey.p == 0.0


def test_the_ops_table_shows_value_flags_and_enabling_switches():
    assert OPS["zoom"].flag == "--zoom Z"  # --zoom-keep-aspect only adjusts it
    assert OPS["crop"].flag == "--crop F, --crop-mode M"
    assert OPS["hflip"].flag == "--hflip"


def family(name, ops, order=None):
    return SimpleNamespace(__name__=name, FAMILY=tuple(ops), FLAG_ORDER=tuple(order if order is not None else ops))


def test_the_registry_refuses_inconsistent_families():
    brightness, contrast = OPS["brightness"], OPS["contrast"]
    ops, flags = _registry((family("a", [contrast, brightness]),))
    assert list(ops) == ["contrast", "brightness"] and [f.name for f in flags] == ["--contrast", "--brightness"]
    with pytest.raises(ImportError, match="a: FLAG_ORDER must list the ops of FAMILY"):
        _registry((family("a", [contrast, brightness], [contrast]),))
    with pytest.raises(ImportError, match="b: two ops are named 'contrast'"):
        _registry((family("a", [contrast]), family("b", [contrast])))

    class Twin(colour.Contrast):
        name = "twin"

    with pytest.raises(ImportError, match="two op flags are the same: contrast"):
        _registry((family("a", [contrast, Twin]),))


def test_a_flag_declaration_is_checked():
    with pytest.raises(ValueError, match="must start with --"):
        Flag("rotate", Span(), "Rotate.", metavar="R")
    with pytest.raises(ValueError, match="needs a metavar"):
        Flag("--rotate", Span(), "Rotate.")
    assert Flag("--salt-ratio", Number(0, 1), "Share.", metavar="R").key == "salt_ratio"
    assert Flag("--rot90", Switch(), "Turn.").usage == "--rot90"


def test_the_choice_lists_match_the_library():
    # augcli.choices is a leaf, so that --help imports neither augcli.warping nor augcli.imageio
    from augcli import choices
    from augcli.labels import setup

    assert choices.FILL_MODES == W.FILL_MODES
    assert choices.INTERPOLATIONS == tuple(W.INTERPOLATIONS)
    assert choices.IMAGE_FORMATS == tuple(imageio.FORMATS)
    assert cli_module.FORMATS == ("same", *imageio.FORMATS)
    assert setup.FORMATS is choices.LABEL_FORMATS


def test_every_subpackage_is_listed_for_the_wheel():
    import re
    from pathlib import Path

    text = (Path(PACKAGE).parent / "pyproject.toml").read_text()
    listed = set(re.findall(r'"([\w.]+)"', re.search(r"^packages = \[(.*)\]$", text, re.M).group(1)))
    found = {".".join(p.parent.relative_to(Path(PACKAGE).parent).parts) for p in Path(PACKAGE).rglob("__init__.py")}
    assert found <= listed
