"""The published anchors: each names a key of the metric table and a protocol."""

import math

from disentax.evaluation import ANCHORS, METRICS, anchors_for
from disentax.losses import OBJECTIVES


def _known_keys():
    keys = set()
    for name, entry in METRICS.items():
        keys.update(k for k in entry.keys if "{" not in k)
        keys.add(name)
    return keys


def test_every_anchor_names_a_known_objective_metric_and_protocol():
    keys = _known_keys()
    for anchor in ANCHORS:
        assert anchor.objective in OBJECTIVES, anchor
        assert anchor.metric in keys, anchor
        assert math.isfinite(anchor.value) and 0.0 <= anchor.value <= 1.0, anchor
        assert anchor.protocol and anchor.source, anchor


def test_published_mig_anchors_are_chen_protocol_not_histogram_mig():
    # Lin et al.'s MIG column is Chen et al.'s sampled MIG: it must never sit beside the
    # histogram MIG (key "mig").
    assert not anchors_for(metric="mig")
    chen = anchors_for("beta_tcvae", "dsprites", metric="mig_chen2018")
    assert [a.value for a in chen] == [0.45]
    assert "Chen" in chen[0].protocol


def test_fixed_hyperparameters_select_the_specific_anchor():
    vae = anchors_for("beta_vae", "dsprites", metric="mig_chen2018", hyperparameters={"beta": 1})
    beta4 = anchors_for("beta_vae", "dsprites", metric="mig_chen2018", hyperparameters={"beta": 4})
    assert [a.label for a in vae] == ["VAE"]
    assert [a.label for a in beta4] == ["β-VAE"]
    # any hyperparameters: both rows of the objective
    assert len(anchors_for("beta_vae", "dsprites", metric="mig_chen2018")) == 2


def test_same_grid_datasets_match_and_others_do_not():
    assert anchors_for("beta_tcvae", "dsprites_file", metric="mig_chen2018")
    assert not anchors_for("beta_tcvae", "shapes3d")
