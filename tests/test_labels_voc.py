"""Pascal VOC XML: known answers, integers out, truncated, safe parsing (billion laughs), EXIF hint."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from augcli.cli import cli
from augcli.labels import voc as V
from augcli.labels.errors import LabelError

from .conftest import pattern


def run(*args, expect=0):
    res = CliRunner().invoke(cli, ["expand", *map(str, args)], catch_exceptions=False)
    assert res.exit_code == expect, res.output
    return res


def xml(boxes, size=(100, 50), extra="") -> str:
    objs = "".join(f"<object><name>{n}</name><pose>Left</pose><truncated>0</truncated><difficult>1</difficult>"
                   f"<bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax><ymax>{d}</ymax></bndbox></object>"
                   for n, (a, b, c, d) in boxes)
    return (f"<annotation><folder>VOC</folder><filename>x.jpg</filename>{extra}<size><width>{size[0]}</width>"
            f"<height>{size[1]}</height><depth>3</depth></size>{objs}</annotation>")


def make(root: Path, text: str, size=(100, 50)) -> Path:
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    pattern(*size).save(root / "JPEGImages/x.jpg", quality=95)
    (root / "Annotations/x.xml").write_text(text)
    return root


def boxes_of(path: Path):
    root = ET.parse(path).getroot()
    return [tuple(int(o.find("bndbox").find(t).text) for t in ("xmin", "ymin", "xmax", "ymax"))
            for o in root.findall("object")], root


def test_hflip_known_answer_and_fields_kept(tmp_path):  # 1
    inp = make(tmp_path / "in", xml([("cat", (11, 6, 30, 20))]))
    res = run(inp, tmp_path / "out", "--hflip", "--p", "hflip=1", "-j", "1")
    assert "labels: voc (Annotations/ beside JPEGImages/)" in res.output
    boxes, root = boxes_of(tmp_path / "out/Annotations/x_0.xml")
    assert boxes == [(71, 6, 90, 20)]
    assert root.find("filename").text == "x_0.jpg" and root.find("folder").text == "VOC"
    o = root.find("object")
    assert o.find("difficult").text == "1" and o.find("pose").text == "Left" and o.find("truncated").text == "0"


def test_rot90_size_swaps_and_clipping_sets_truncated(tmp_path):
    inp = make(tmp_path / "in", xml([("cat", (11, 6, 30, 20)), ("dog", (1, 1, 5, 5))]))
    run(inp, tmp_path / "out", "--rotate", "90:90", "-j", "1")
    boxes, root = boxes_of(tmp_path / "out/Annotations/x_0.xml")
    # edges [30, 45, 45, 50] after clipping -> VOC 31 46 45 50; the small box leaves the image
    assert boxes == [(31, 46, 45, 50)] and root.find("object").find("truncated").text == "1"
    assert [o.find("name").text for o in root.findall("object")] == ["cat"]


def test_float_coordinates_read_and_written_as_integers(tmp_path):  # 22
    inp = make(tmp_path / "in", xml([("cat", (11.2, 6, 45.7, 20.4))]))
    run(inp, tmp_path / "out", "-n", "0", "--include-originals", "-j", "1")
    boxes, root = boxes_of(tmp_path / "out/Annotations/x_orig.xml")
    assert boxes == [(11, 6, 46, 20)] and root.find("size").find("width").text == "100"


def test_billion_laughs_and_external_entities_are_refused():
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i else "")) * 10}">' for i in range(1, 10))
            + ']><annotation><filename>&lol9;</filename></annotation>')
    with pytest.raises(LabelError, match="DTD or entity"):
        V.parse(bomb.encode(), "a.xml")
    ext = '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><annotation>&e;</annotation>'
    with pytest.raises(LabelError, match="DTD or entity"):
        V.parse(ext.encode(), "a.xml")
    deep = "<annotation>" + "<a>" * 200 + "</a>" * 200 + "</annotation>"
    with pytest.raises(LabelError, match="nested deeper"):
        V.parse(deep.encode(), "a.xml")


def test_bomb_in_a_dataset_fails_only_that_image(tmp_path):
    inp = make(tmp_path / "in", '<!DOCTYPE a [<!ENTITY x "y">]><annotation/>')
    pattern(100, 50).save(inp / "JPEGImages/y.jpg")
    (inp / "Annotations/y.xml").write_text(xml([("cat", (11, 6, 30, 20))]))
    res = run(inp, tmp_path / "out", "-j", "1", expect=1)
    assert "Annotations/x.xml:1: XML with a DTD or entity declarations is refused" in res.output
    assert (tmp_path / "out/Annotations/y_0.xml").exists() and not (tmp_path / "out/JPEGImages/x_0.jpg").exists()


@pytest.mark.parametrize("text,reason", [
    ("<annotation><object><name>a</name></object></annotation>", "x.xml:1: <object> without <bndbox>"),
    ("<annotation><object><bndbox><xmin>a</xmin></bndbox></object></annotation>", "<xmin> 'a' is not a number"),
    ("<annotation><object>", "not well-formed XML"),
    ("<other/>", "root element is <other>"),
])
def test_malformed_xml_one_line_errors(tmp_path, text, reason):
    inp = make(tmp_path / "in", text)
    res = run(inp, tmp_path / "out", "-j", "1", expect=1)
    assert reason in res.output


def test_swapped_size_hints_at_the_stored_frame(tmp_path):
    inp = make(tmp_path / "in", xml([("cat", (11, 6, 30, 20))], size=(50, 100)))
    res = run(inp, tmp_path / "out", "-j", "1", expect=1)
    assert "<size> 50x100 but image is 100x50 (EXIF? try --labels-frame stored)" in res.output


def test_xml_next_to_the_image_and_ambiguity_with_yolo(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    pattern(100, 50).save(inp / "x.png")
    (inp / "x.xml").write_text(xml([("cat", (11, 6, 30, 20))]))
    run(inp, tmp_path / "out", "--vflip", "--p", "vflip=1", "-j", "1")
    assert boxes_of(tmp_path / "out/x_0.xml")[0] == [(11, 31, 30, 45)]
    (inp / "x.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    res = run(inp, tmp_path / "out2", expect=2)
    assert "found yolo" in res.output and "voc" in res.output and "--labels" in res.output
    run(inp, tmp_path / "out3", "--labels", "voc", "-j", "1")
    assert (tmp_path / "out3/x_0.xml").exists() and not (tmp_path / "out3/x_0.txt").exists()


def test_resize_then_hflip_scales_exactly(tmp_path):  # 13
    inp = make(tmp_path / "in", xml([("cat", (11, 6, 30, 20))]))
    run(inp, tmp_path / "out", "--resize", "200x100", "--hflip", "--p", "hflip=1", "-j", "1")
    boxes, root = boxes_of(tmp_path / "out/Annotations/x_0.xml")
    assert boxes == [(141, 11, 180, 40)] and root.find("size").find("width").text == "200"


def test_exif_stored_frame_and_replay(tmp_path):  # 14
    from PIL import Image

    inp = tmp_path / "in"
    (inp / "JPEGImages").mkdir(parents=True)
    (inp / "Annotations").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    pattern(100, 50).save(inp / "JPEGImages/x.jpg", exif=exif, quality=95)
    (inp / "Annotations/x.xml").write_text(xml([("cat", (11, 6, 30, 20))], size=(100, 50)))
    res = run(inp, tmp_path / "d", "-j", "1", expect=1)
    assert "<size> 100x50 but image is 50x100 (EXIF? try --labels-frame stored)" in res.output
    run(inp, tmp_path / "s", "--labels-frame", "stored", "-j", "1", "-n", "2", "--rotate", "10", "--seed", "2")
    # displayed = rot90 k=3 of the stored frame: edges [30, 10, 45, 30] -> VOC 31 11 45 30
    out = tmp_path / "o"
    run(inp, out, "--labels-frame", "stored", "-n", "0", "--include-originals", "-j", "1")
    boxes, root = boxes_of(out / "Annotations/x_orig.xml")
    assert boxes == [(31, 11, 45, 30)] and root.find("size").find("width").text == "50"
    res = CliRunner().invoke(cli, ["replay", str(tmp_path / "s/manifest.jsonl"), "--output", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    for name in ("Annotations/x_0.xml", "Annotations/x_1.xml"):
        assert (tmp_path / "r" / name).read_bytes() == (tmp_path / "s" / name).read_bytes()


def test_path_and_folder_describe_the_output(tmp_path):
    # labelImg style: <folder> is the image's folder, <path> the annotator's path of the image
    lab = xml([("cat", (11, 6, 30, 20))], extra="<path>/home/ann/in/JPEGImages/x.jpg</path>")
    inp = make(tmp_path / "in", lab.replace("<folder>VOC</folder>", "<folder>JPEGImages</folder>"))
    run(inp, tmp_path / "out", "-n", "1", "-j", "1")
    root = ET.parse(tmp_path / "out/Annotations/x_0.xml").getroot()
    assert root.find("path") is None and root.find("folder").text == "JPEGImages"
    # Pascal VOC style: <folder> is the dataset folder holding JPEGImages/
    inp2 = make(tmp_path / "VOC2012", xml([("cat", (11, 6, 30, 20))]).replace("<folder>VOC</folder>",
                                                                            "<folder>VOC2012</folder>"))
    run(inp2, tmp_path / "aug", "-n", "1", "-j", "1")
    assert ET.parse(tmp_path / "aug/Annotations/x_0.xml").getroot().find("folder").text == "aug"
    # a <folder> that names neither (a dataset label) is kept
    inp3 = make(tmp_path / "in3", xml([("cat", (11, 6, 30, 20))]))
    run(inp3, tmp_path / "out3", "-n", "1", "-j", "1")
    assert ET.parse(tmp_path / "out3/Annotations/x_0.xml").getroot().find("folder").text == "VOC"
