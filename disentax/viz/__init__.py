"""disentax.viz: latent traversals, animations, reconstructions, plots and the run report.

The library functions take ``(model, params, images)`` and return arrays, so any project
can use them without files; the writers turn those arrays into PNG/GIF files, and
:func:`render_report` turns scores, a config and pictures into one self-contained HTML
page. ``disentax.runs.traverse`` (the ``disentax traverse`` command) uses them to draw a
run folder's pictures from a checkpoint.
"""

from disentax.viz.animations import (
    CYCLES,
    Animation,
    animate,
    animate_cycles,
    cycle_gaussian,
    cycle_interval,
    cycle_values,
    gif_frames,
    write_gif,
)
from disentax.viz.decoding import (
    decode_latents,
    encode_images,
    reconstruct,
    reconstruction_grid,
)
from disentax.viz.grids import displayable, tile, to_rgb, to_uint8
from disentax.viz.plots import (
    curves_figure,
    heatmap_figure,
    image_figure,
    kl_figure,
    read_jsonl,
    save_figure,
    traversal_figure,
    traversal_row_labels,
)
from disentax.viz.rendering import Rendering, render
from disentax.viz.report import ARTEFACTS, render_report
from disentax.viz.study import study_figures, study_page
from disentax.viz.traversals import (
    KL_THRESHOLD,
    VALUE_RANGES,
    Traversal,
    check_latents,
    latent_kl,
    traversal_latents,
    traversal_values,
    traverse,
)

__all__ = [
    "study_figures",
    "study_page",
    "ARTEFACTS",
    "CYCLES",
    "KL_THRESHOLD",
    "VALUE_RANGES",
    "Animation",
    "Rendering",
    "Traversal",
    "animate",
    "animate_cycles",
    "check_latents",
    "curves_figure",
    "cycle_gaussian",
    "cycle_interval",
    "cycle_values",
    "decode_latents",
    "displayable",
    "encode_images",
    "gif_frames",
    "heatmap_figure",
    "image_figure",
    "kl_figure",
    "latent_kl",
    "read_jsonl",
    "reconstruct",
    "reconstruction_grid",
    "render",
    "render_report",
    "save_figure",
    "tile",
    "to_rgb",
    "to_uint8",
    "traversal_figure",
    "traversal_latents",
    "traversal_row_labels",
    "traversal_values",
    "traverse",
    "write_gif",
]
