"""The CelebA reader on generated folders in the published layout (nothing is downloaded).

A folder ``img_align_celeba/`` of 178 x 218 JPEGs and ``list_attr_celeba.txt`` (count,
attribute names, then ``file v1 ... vA`` with values 1 / -1) as published; the oracle of
an image is Pillow's centred 148 x 148 crop of the decoded file, then its bilinear resize
to 64 x 64 (the common CelebA recipe), and of a label the value written.
"""

from __future__ import annotations

import json
import zipfile

import jax
import numpy as np
import pytest
from PIL import Image

from disentax import data
from disentax.data import celeba
from disentax.data.files import DatasetFormatError, DatasetNotFoundError

ATTRIBUTES = ("5_o_Clock_Shadow", "Smiling", "Young")


def write_celeba(root, num=6, seed=0, *, attributes_for=None, layout="flat"):
    """A CelebA-shaped data folder under ``root``; returns ``(file names, labels [N, A])``."""
    rng = np.random.default_rng(seed)
    images = root / ("celeba/Img" if layout == "drive" else "celeba") / "img_align_celeba"
    images.mkdir(parents=True, exist_ok=True)
    names = [f"{i + 1:06d}.jpg" for i in range(num)]
    for name in names:
        pixels = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / name, quality=90)
    labels = rng.integers(0, 2, (num, len(ATTRIBUTES)))
    listed = names if attributes_for is None else attributes_for
    lines = [str(len(listed)), " ".join(ATTRIBUTES)]
    for name, row in zip(listed, labels, strict=False):
        lines.append(name + "".join(f" {'1' if v else '-1':>2}" for v in row))
    anno = root / "celeba" / "Anno" if layout == "drive" else images.parent
    anno.mkdir(parents=True, exist_ok=True)
    (anno / celeba.ATTRIBUTES_FILE).write_text("\n".join(lines) + "\n")
    return images, names, labels


def oracle(path):
    with Image.open(path) as image:
        box = image.convert("RGB").crop((15, 35, 163, 183))  # centred 148 of 178 x 218
        return np.asarray(box.resize((64, 64), Image.Resampling.BILINEAR))


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("DISENTAX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DISENTAX_DATA", str(tmp_path / "no-user-data"))


@pytest.mark.parametrize("layout", ["flat", "drive"])
def test_images_and_attributes_as_published(tmp_path, layout):
    folder, names, labels = write_celeba(tmp_path, layout=layout)
    dataset = data.get("celeba", data_dir=tmp_path)
    assert not dataset.has_factors and dataset.label_names == ATTRIBUTES
    assert dataset.factor_sizes == (len(names),) and dataset.observation_shape == (64, 64, 3)
    index = jax.numpy.asarray([[4], [0], [2]], jax.numpy.int32)
    expected = np.stack([oracle(folder / names[i]) for i in (4, 0, 2)]) / 255.0
    np.testing.assert_allclose(np.asarray(dataset.observations(index)), expected, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(dataset.labels_of(index)), labels[[4, 0, 2]])


def test_zip_of_the_images_reads_the_same(tmp_path):
    folder, names, labels = write_celeba(tmp_path)
    archive = tmp_path / "zipped" / "img_align_celeba.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as out:
        for name in names:
            out.write(folder / name, f"img_align_celeba/{name}")
    (archive.parent / celeba.ATTRIBUTES_FILE).write_bytes(
        (folder.parent / celeba.ATTRIBUTES_FILE).read_bytes()
    )
    from_zip = data.get("celeba", data_dir=archive.parent)
    from_folder = data.get("celeba", data_dir=tmp_path)
    every = jax.numpy.arange(len(names))[:, None]
    np.testing.assert_array_equal(
        np.asarray(from_zip.observations(every)), np.asarray(from_folder.observations(every))
    )
    np.testing.assert_array_equal(np.asarray(from_zip.labels_of(every)), labels)


def test_missing_files_name_the_file_where_looked_and_where_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        data.get("celeba", data_dir=tmp_path)
    message = str(err.value)
    assert "img_align_celeba" in message and str(tmp_path / "celeba") in message
    assert "mmlab.ie.cuhk.edu.hk/projects/CelebA.html" in message

    folder, _, _ = write_celeba(tmp_path)
    (folder.parent / celeba.ATTRIBUTES_FILE).unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        data.get("celeba", data_dir=tmp_path)
    message = str(err.value)
    assert celeba.ATTRIBUTES_FILE in message and str(folder.parent) in message
    assert "Anno/list_attr_celeba.txt" in message and "CelebA.html" in message


def test_malformed_attribute_files_name_the_defect(tmp_path):
    folder, names, _ = write_celeba(tmp_path, attributes_for=["000001.jpg", "000002.jpg"])
    with pytest.raises(DatasetFormatError, match="no attributes for 4 images .*000003.jpg"):
        data.get("celeba", data_dir=tmp_path)
    attributes = folder.parent / celeba.ATTRIBUTES_FILE
    text = attributes.read_text().splitlines()
    attributes.write_text("\n".join([*text[:3], "000002.jpg 1 0 1"]) + "\n")
    with pytest.raises(DatasetFormatError, match="line 4: expected a file name and 3 values"):
        data.get("celeba", data_dir=tmp_path)
    attributes.write_text("\n".join([text[0], text[1], text[2]]) + "\n")
    with pytest.raises(DatasetFormatError, match="announces 2 images, the file lists 1"):
        data.get("celeba", data_dir=tmp_path)
    attributes.write_text("Smiling\n")
    with pytest.raises(DatasetFormatError, match="image count on line 1"):
        data.get("celeba", data_dir=tmp_path)


def test_unreadable_images_are_skipped_and_their_rows_left_out(tmp_path):
    folder, names, labels = write_celeba(tmp_path)
    (folder / names[1]).write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.warns(data.SkippedImagesWarning, match=f"skipped 1 files.*{names[1]}"):
        dataset = data.get("celeba", data_dir=tmp_path)
    assert dataset.factor_sizes == (len(names) - 1,)
    every = jax.numpy.arange(len(names) - 1)[:, None]
    np.testing.assert_array_equal(np.asarray(dataset.labels_of(every)), np.delete(labels, 1, 0))


@pytest.mark.slow
def test_a_generated_celeba_folder_trains_evaluates_and_traverses(tmp_path, capsys):
    from disentax import cli, runs

    write_celeba(tmp_path, num=12)
    workdir = tmp_path / "run"
    command = [
        "train",
        "--workdir",
        str(workdir),
        "--config.dataset=celeba",
        f"--config.data_dir={tmp_path}",
        "--config.model=conv",
        "--config.num_latents=3",
        "--config.num_steps=2",
        "--config.batch_size=8",
        "--config.log_every=1",
        "--config.checkpoint_every=2",
        "--config.evaluate=False",
    ]
    assert cli.main(command) == 0, capsys.readouterr().err

    record = runs.evaluate(workdir, num_train=64, num_test=32, eval_sizes="quick")
    metrics = record["metrics"]
    assert "no ground-truth factors" in record["skipped"]["dci"]
    assert "attribute probes" in record["note"]
    for name in ATTRIBUTES:
        assert 0.0 <= metrics[f"attributes/test_accuracy:{name}"] <= 1.0
    for key in ("attributes/mean_majority_accuracy", "reconstruction/mse"):
        assert np.isfinite(metrics[key])
    assert json.loads((workdir / "evaluation.json").read_text())["note"] == record["note"]

    written = runs.traverse(workdir, num_seeds=2, num_steps=3, num_frames=4, num_reference=8)
    assert {"traversal.png", "traversal.gif", "kl.png"} <= set(written)
