"""Image folders as datasets: the fit against Pillow, the cache, the bad-file policy, archives,
sampling, and a generated folder trained, evaluated and traversed end to end.

Every folder is generated here with Pillow (nothing can be downloaded); the oracle of an
image is Pillow's own ``crop`` then ``resize`` of the file written.
"""

from __future__ import annotations

import json
import tarfile
import zipfile

import jax
import numpy as np
import pytest
from PIL import Image

from disentax import data, parallel
from disentax.data import image_cache, images, sampling
from disentax.data.files import DatasetFormatError, DatasetNotFoundError

SHAPE = (8, 8, 3)


def write_folder(folder, num=6, seed=0):
    """``num`` RGB PNGs of assorted sizes (some wide, some tall); returns their arrays."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for i in range(num):
        size = (11 + 3 * i, 17 - i) if i % 2 else (20 - i, 9 + 2 * i)  # (height, width)
        pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{i:02d}.png")
        written[f"img_{i:02d}.png"] = pixels
    return written


def oracle(pixels: np.ndarray, shape=SHAPE, crop=None, resample=Image.Resampling.LANCZOS):
    """Pillow's crop of the centred box (floored offsets), then its resize."""
    image = Image.fromarray(pixels).convert("RGB" if shape[2] == 3 else "L")
    width, height = image.size
    if crop is None:  # the largest centred box of the target's aspect ratio
        scale = min(width / shape[1], height / shape[0])
        crop_w, crop_h = int(shape[1] * scale + 1e-9), int(shape[0] * scale + 1e-9)
    else:
        crop_h, crop_w = (crop, crop) if isinstance(crop, int) else crop
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    box = image.crop((left, top, left + crop_w, top + crop_h))
    return np.asarray(box.resize((shape[1], shape[0]), resample)).reshape(shape)


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("DISENTAX_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize(
    "size, shape, crop",
    [
        ((218, 178), (64, 64, 3), None),  # CelebA's shape: the largest centred square
        ((218, 178), (64, 64, 3), 148),  # the common CelebA crop
        ((30, 45), (8, 12, 3), None),  # a non-square target
        ((31, 20), (6, 6, 1), (21, 15)),  # odd margins, greyscale
    ],
)
def test_fit_image_is_pillows_crop_then_resize(size, shape, crop):
    pixels = np.random.default_rng(1).integers(0, 256, (*size, 3), dtype=np.uint8)
    got = image_cache.fit_image(Image.fromarray(pixels), shape, crop=crop)
    assert got.dtype == np.uint8 and got.shape == shape
    np.testing.assert_array_equal(got, oracle(pixels, shape, crop))
    bilinear = image_cache.fit_image(Image.fromarray(pixels), shape, crop=crop, resample="bilinear")
    np.testing.assert_array_equal(bilinear, oracle(pixels, shape, crop, Image.Resampling.BILINEAR))


def test_folder_reads_every_image_in_name_order_on_device_and_mapped(tmp_path):
    written = write_folder(tmp_path / "faces")
    (tmp_path / "faces" / "sub").mkdir()
    nested = np.full((12, 12, 3), 77, np.uint8)
    Image.fromarray(nested).save(tmp_path / "faces" / "sub" / "deep.png")
    written["sub/deep.png"] = nested
    (tmp_path / "faces" / ".hidden.png").write_bytes(b"not looked at")

    dataset = data.get("images", data_dir=tmp_path / "faces", image_shape=SHAPE, resident=True)
    names = sorted(written)
    assert isinstance(dataset, data.GroundTruthData) and not dataset.has_factors
    assert dataset.factor_sizes == (len(names),) and dataset.observation_shape == SHAPE
    expected = np.stack([oracle(written[n]) for n in names]) / 255.0
    index = np.arange(len(names), dtype=np.int32)[:, None]
    np.testing.assert_allclose(np.asarray(dataset.observations(index)), expected, atol=1e-6)

    mapped = images.load(tmp_path / "faces", image_shape=SHAPE, resident=False)
    assert mapped.host_only and not dataset.host_only
    step = jax.jit(lambda d, k: d.observations(d.sample_factors(k, 5)))
    np.testing.assert_array_equal(
        np.asarray(step(mapped, jax.random.key(3))), np.asarray(step(dataset, jax.random.key(3)))
    )


def test_batches_per_host_agree_on_device_and_mapped(tmp_path):
    write_folder(tmp_path / "faces")
    on_device = images.load(tmp_path / "faces", image_shape=SHAPE, resident=True)
    mapped = images.load(tmp_path / "faces", image_shape=SHAPE, resident=False)
    key, sharding = jax.random.key(0), parallel.data_sharding(parallel.make_mesh())
    in_step, factors = jax.jit(sampling.batch_for_step, static_argnums=3)(on_device, key, 4, 8)
    host, host_factors = sampling.global_batch(mapped, key, 4, 8, sharding)
    np.testing.assert_array_equal(np.asarray(host_factors), np.asarray(factors))
    np.testing.assert_array_equal(np.asarray(host), np.asarray(in_step))


def _entries(cache):
    return sorted(p.name for p in cache.glob("images-*.npy"))


def test_cache_is_reused_and_invalidated_when_the_folder_changes(tmp_path, monkeypatch):
    folder, cache = tmp_path / "faces", tmp_path / "cache"
    write_folder(folder, num=4)
    first = image_cache.read_images(folder, SHAPE)
    assert len(_entries(cache)) == 1 and isinstance(first.array, np.memmap)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although the cache is valid")

    with monkeypatch.context() as patch:
        patch.setattr(image_cache, "_decode", no_decoding)
        again = image_cache.read_images(folder, SHAPE)
        np.testing.assert_array_equal(np.asarray(again.array), np.asarray(first.array))
        assert again.key == first.key
        moved = tmp_path / "moved"
        folder.rename(moved)  # same content elsewhere: the same key
        assert image_cache.read_images(moved, SHAPE).key == first.key
        moved.rename(folder)
        with pytest.raises(AssertionError, match="decoded again"):
            image_cache.read_images(folder, (8, 8, 1))  # another shape: another entry
    image_cache.read_images(folder, (8, 8, 1))

    Image.new("RGB", (9, 9), (255, 0, 0)).save(folder / "img_01.png")  # a file changes
    changed = image_cache.read_images(folder, SHAPE)
    assert changed.key != first.key
    np.testing.assert_array_equal(changed.array[1], np.full(SHAPE, (255, 0, 0), np.uint8))
    np.testing.assert_array_equal(changed.array[0], first.array[0])
    Image.new("RGB", (9, 9)).save(folder / "img_99.png")  # a file is added
    added = image_cache.read_images(folder, SHAPE)
    assert added.array.shape[0] == 5 and added.names[-1] == "img_99.png"
    assert len(_entries(cache)) == 2  # the folder's stale entries are removed; (8, 8, 1) kept
    assert not list(cache.glob("*.tmp*"))  # nothing half-written left behind


def test_bad_files_are_skipped_with_a_count_and_other_modes_converted(tmp_path):
    folder = tmp_path / "mixed"
    written = write_folder(folder, num=2)
    grey = np.random.default_rng(2).integers(0, 256, (10, 10), dtype=np.uint8)
    Image.fromarray(grey).save(folder / "grey.jpg")
    Image.new("RGBA", (10, 10), (10, 20, 30, 0)).save(folder / "rgba.png")
    Image.new("I;16", (10, 10)).save(folder / "deep.png")  # 16 bits: unsupported mode
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    png = (folder / "img_00.png").read_bytes()
    (folder / "cut.png").write_bytes(png[: len(png) // 2])  # truncated

    with pytest.warns(data.SkippedImagesWarning, match="skipped 4 files") as record:
        dataset = images.load(folder, image_shape=SHAPE)
    message = str(record[0].message)
    for name in ("broken.jpg", "cut.png", "deep.png", "notes.txt"):
        assert name in message
    with pytest.warns(data.SkippedImagesWarning, match="skipped 4 files"):
        entry = image_cache.read_images(folder, SHAPE)  # the cache remembers the skips
    assert entry.names == ("grey.jpg", "img_00.png", "img_01.png", "rgba.png")
    assert sorted(n for n, _ in entry.skipped) == ["broken.jpg", "cut.png", "deep.png", "notes.txt"]
    assert dataset.factor_sizes == (4,)
    with Image.open(folder / "grey.jpg") as decoded:  # JPEG is lossy: the file's pixels
        assert decoded.mode == "L"
        np.testing.assert_array_equal(entry.array[0], oracle(np.asarray(decoded.convert("RGB"))))
    np.testing.assert_array_equal(entry.array[1], oracle(written["img_00.png"]))
    np.testing.assert_array_equal(entry.array[3], np.full(SHAPE, (10, 20, 30), np.uint8))


def test_empty_missing_and_unreadable_folders_are_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=f"no image files .* in {tmp_path / 'empty'}"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "readme.txt").write_text("x")
        data.get("images", data_dir=tmp_path / "empty")
    with pytest.raises(DatasetNotFoundError, match="no folder or archive .*nowhere.*data_dir"):
        data.get("images", data_dir=tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"not a png")
    with pytest.raises(DatasetFormatError, match="none of its 1 image files can be read.*a.png"):
        data.get("images", data_dir=tmp_path / "bad")
    assert not list((tmp_path / "cache").glob("images-*"))  # a failed build leaves nothing
    (tmp_path / "fake.zip").write_bytes(b"not a zip")
    with pytest.raises(DatasetFormatError, match="fake.zip: not a readable zip or tar"):
        data.get("images", data_dir=tmp_path / "fake.zip")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image_shape": (8, 8, 2)}, "image_shape must be"),
        ({"image_shape": (8, 8)}, "image_shape must be"),
        ({"crop": 0}, "crop must be"),
        ({"crop": (4, 4, 4)}, "crop must be"),
        ({"resample": "nearest"}, "resample must be one of"),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path, kwargs, match):
    write_folder(tmp_path / "faces", num=1)
    with pytest.raises(ValueError, match=match):
        images.load(tmp_path / "faces", **kwargs)


@pytest.mark.parametrize("suffix", [".zip", ".tar", ".tar.gz"])
def test_archives_read_like_the_folder(tmp_path, suffix):
    folder = tmp_path / "faces"
    write_folder(folder, num=5)
    archive = tmp_path / f"faces{suffix}"
    if suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as out:
            for path in sorted(folder.iterdir(), reverse=True):  # stored out of order
                out.write(path, f"faces/{path.name}")
    else:
        with tarfile.open(archive, "w:gz" if suffix.endswith("gz") else "w") as out:
            for path in sorted(folder.iterdir(), reverse=True):
                out.add(path, f"faces/{path.name}")
    from_folder = image_cache.read_images(folder, SHAPE)
    from_archive = image_cache.read_images(archive, SHAPE)
    assert from_archive.names == tuple(f"faces/{n}" for n in from_folder.names)
    np.testing.assert_array_equal(np.asarray(from_archive.array), np.asarray(from_folder.array))
    assert image_cache.read_images(archive, SHAPE).key == from_archive.key


@pytest.mark.slow
def test_a_generated_folder_trains_evaluates_and_traverses(tmp_path, capsys):
    from disentax import cli, runs

    write_folder(tmp_path / "faces", num=12)
    workdir = tmp_path / "run"
    command = [
        "train",
        "--workdir",
        str(workdir),
        "--config.dataset=images",
        f"--config.data_dir={tmp_path / 'faces'}",
        "--config.model=conv",
        "--config.num_latents=3",
        "--config.num_steps=2",
        "--config.batch_size=8",
        "--config.log_every=1",
        "--config.checkpoint_every=2",
        "--config.evaluate=False",
    ]
    assert cli.main(command) == 0, capsys.readouterr().err
    stored = json.loads((workdir / "config.json").read_text())
    assert stored["config"]["data_dir"] == str(tmp_path / "faces")

    record = runs.evaluate(workdir, num_train=64, num_test=32, eval_sizes="quick")
    assert "mig" in record["skipped"] and "no ground-truth factors" in record["skipped"]["mig"]
    assert "no ground-truth factors" in record["note"]
    for key in ("unsupervised/gaussian_total_correlation", "reconstruction/nll"):
        assert np.isfinite(record["metrics"][key]), key
    assert json.loads((workdir / "evaluation.json").read_text())["metrics"] == record["metrics"]

    written = runs.traverse(workdir, num_seeds=2, num_steps=3, num_frames=4, num_reference=8)
    assert {"traversal.png", "traversal.gif", "reconstructions.png"} <= set(written)
    assert "no ground-truth factors" in (workdir / "report.html").read_text()


def test_a_config_names_the_folder_with_data_dir(tmp_path, monkeypatch):
    from disentax.runs import spec as spec_lib

    def config(**overrides):
        base = {
            "model": "conv",
            "objective": {"name": "beta_vae"},
            "dataset": "images",
            "num_latents": 3,
            "batch_size": 8,
            "num_steps": 1,
            "learning_rate": 1e-3,
            "seed": 0,
            "log_every": 1,
            "checkpoint_every": 1,
            "evaluate": False,
            "parallel": "jit",
        }
        return {**base, **overrides}

    monkeypatch.chdir(tmp_path)
    write_folder(tmp_path / "faces", num=2)
    spec = spec_lib.validate(config(data_dir="faces"))  # relative: stored absolute
    assert spec.data_dir == str(tmp_path / "faces")
    assert spec.resolved["data_dir"] == str(tmp_path / "faces")
    assert spec_lib.build(spec).dataset.factor_sizes == (2,)
    assert spec_lib.validate(config()).data_dir == ""  # the default data folder
    with pytest.raises(ValueError, match="config.data_dir is only for datasets read from"):
        spec_lib.validate(config(dataset="dsprites", data_dir="faces"))
    with pytest.raises(ValueError, match="config.data_dir must be a folder path"):
        spec_lib.validate(config(data_dir=3))
