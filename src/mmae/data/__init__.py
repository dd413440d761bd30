"""Datasets: MVTec AD and folder images (`mmae.data.image`), video benchmarks (`mmae.data.video`),
and the synthetic generators (`mmae.data.synth_image`, `mmae.data.synth_video`)."""
