"""A train step that needs more memory than the machine has is refused before it runs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax import runs
from disentax.runs import memory


def test_the_compiled_programs_needs_and_the_machines_memory_are_read():
    compiled = (
        jax.jit(lambda x: jnp.sort(x @ x.T, axis=1)[:, :2])
        .lower(jax.ShapeDtypeStruct((512, 64), jnp.float32))
        .compile()
    )
    assert memory.step_bytes(compiled) >= 512 * 512 * 4  # the [512, 512] product
    assert memory.available_bytes(jax.devices()[0]) > 0
    devices = jax.devices()[:2]
    memory.check_step_memory(compiled, devices, batch_size=512)  # fits
    with pytest.raises(ValueError, match="config.batch_size=512: one train step needs about"):
        memory.check_step_memory(compiled, devices, batch_size=512, available=1 << 20)


@pytest.mark.parametrize("parallel", ["jit", "pmap"])
def test_a_batch_too_large_is_refused_before_the_first_step(
    tiny_config, tmp_path, monkeypatch, parallel
):
    config = tiny_config(f"--config.parallel={parallel}")
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1 << 10)
    with pytest.raises(ValueError, match=r"config.batch_size=8: .* 0 MiB are available; lower"):
        runs.train(config, tmp_path / "fresh")
    assert not (tmp_path / "fresh" / "checkpoints").exists()
    assert not (tmp_path / "fresh" / "metrics.jsonl").exists()
    # a resumed run checks its step too (the pmap step then runs the program compiled here)
    monkeypatch.undo()
    runs.train(tiny_config(f"--config.parallel={parallel}",
                           "--config.num_steps=3"), tmp_path / "resumed")  # fmt: skip
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1 << 10)
    with pytest.raises(ValueError, match=r"config.batch_size=8: .* 0 MiB are available; lower"):
        runs.train(config, tmp_path / "resumed")
    monkeypatch.undo()
    assert runs.train(config, tmp_path / "resumed")["step"] == 6


def test_a_sweep_too_large_is_refused_before_its_first_step(tmp_path, monkeypatch, sweep_config):
    # the study's path: the sweep compiles its step before the first step and checks it
    configs = [sweep_config(beta, seed, num_steps=2) for beta, seed in ((1.0, 0), (4.0, 1))]
    folders = [tmp_path / "a", tmp_path / "b"]
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1 << 10)
    with pytest.raises(ValueError, match=r"config.batch_size=8: .*models_per_program; this one "
                       r"trains 2\)"):  # fmt: skip
        runs.train_sweep(configs, folders, log=lambda _: None)
    for folder in folders:
        assert not (folder / "checkpoints").exists() or not any((folder / "checkpoints").iterdir())
        assert not (folder / "metrics.jsonl").exists()
    monkeypatch.undo()  # with the machine's memory it trains
    result = runs.train_sweep(configs, folders, log=lambda _: None)
    assert result["step"] == 2 and result["compile_s"] > 0


@pytest.mark.parametrize("parallel", ["jit", "pmap"])
def test_host_batches_too_large_are_refused_before_the_first_batch(tmp_path, monkeypatch, parallel):
    # an image folder is read on the host: its step is compiled for the batch's shapes
    from PIL import Image

    monkeypatch.setenv("DISENTAX_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    (tmp_path / "faces").mkdir()
    for i in range(8):
        pixels = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "faces" / f"{i}.png")
    config = runs.load_config(
        "default",
        ["--config.dataset=images", f"--config.data_dir={tmp_path / 'faces'}",
         "--config.model=fc", "--config.num_latents=2", "--config.batch_size=8",
         "--config.num_steps=2", "--config.evaluate=False", f"--config.parallel={parallel}"],
    )  # fmt: skip
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1 << 10)
    with pytest.raises(ValueError, match=r"config.batch_size=8: .* 0 MiB are available; lower"):
        runs.train(config, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()
    monkeypatch.undo()
    monkeypatch.setenv("DISENTAX_CACHE", str(tmp_path / "cache"))
    assert runs.train(config, tmp_path / "run")["step"] == 2
