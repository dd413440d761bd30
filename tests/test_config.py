"""Presets and --set resolution."""

from __future__ import annotations

import pytest
import torch

from mmae.engine.config import RunConfig, list_presets, parse_set, resolve_config
from mmae.errors import ConfigError
from mmae.models.registry import create_model, list_models, model_arguments


def test_paper_preset_matches_reference_section_1():
    cfg = resolve_config("mmae", "paper")
    assert (cfg.image_size, cfg.epochs, cfg.batch_size) == (256, 2000, 64)
    assert (cfg.lr, cfg.weight_decay) == (1e-4, 1e-5)
    kw = cfg.model_kwargs()
    assert kw["image_size"] == 256
    got = (kw["num_scales"], kw["gamma"], kw["memory_size"], kw["latent_dim"])
    assert got == (5, 0.5, 60, 1024)
    assert kw["latent"] == "vector"


def test_cpu_is_default_and_set_overrides_win():
    cfg = resolve_config("mmae", "cpu", parse_set(["epochs=3", "image_size=32", "lr=2e-3",  # no dot
                                                   "num_scales=2", "latent=spatial"]))
    assert (cfg.epochs, cfg.image_size, cfg.lr) == (3, 32, 2e-3)
    assert cfg.model_kwargs()["num_scales"] == 2
    assert cfg.model_kwargs()["latent"] == "spatial"
    assert cfg.model_kwargs()["image_size"] == 32


@pytest.mark.parametrize("bad,msg", [
    (["epochz=3"], "unknown setting 'epochz'.*did you mean epochs"),
    (["epochs=0"], "positive integer"),
    (["epochs=abc"], "expected an integer"),
    (["epochs=2.5"], "expected an integer"),
    (["lr=nan"], "must be finite"),
    (["lr=-1"], ">= 0"),
    (["score_reduce=median"], "choose one of"),
    (["noequals"], "expected key=value"),
    (["channels=2"], "must be 1 or 3"),
])
def test_bad_settings_name_the_option(bad, msg):
    with pytest.raises(ConfigError, match=msg):
        resolve_config("mmae", "cpu", parse_set(bad))


def test_unknown_model_and_preset():
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        resolve_config("nope", "cpu")
    with pytest.raises(ConfigError, match="unknown preset 'fast'"):
        resolve_config("mmae", "fast")


@pytest.mark.parametrize("preset", list_presets())
def test_every_model_resolves_with_every_preset(preset):
    assert set(list_presets()) >= {"cpu", "paper"}
    for name in list_models():
        cfg = resolve_config(name, preset)
        assert set(cfg.model_kwargs()) <= set(model_arguments(name))
        with torch.device("meta"):  # the preset builds a valid model (no memory allocated)
            model = create_model(name, **cfg.model_kwargs())
        assert model.kind == cfg.kind


def test_config_dict_roundtrip():
    cfg = resolve_config("mmae", "cpu", parse_set(["seed=7"]))
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_settings_help_shows_resolved_values():
    from mmae.engine.config import settings_help

    text = settings_help("mmae", "paper", parse_set(["epochs=7"]))
    assert "  epochs = 7" in text and "  image_size = 256" in text
    assert "  num_scales = 5" in text and "  latent_dim = 1024" in text
