"""Presets and --set resolution."""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
import torch
import yaml

from mmae.config import RunConfig, list_presets, parse_set, resolve_config
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
                                                   "num_scales=2", "latent=spatial",
                                                   "similarity=dot"]))
    assert (cfg.epochs, cfg.image_size, cfg.lr) == (3, 32, 2e-3)
    assert cfg.model_kwargs()["num_scales"] == 2
    assert cfg.model_kwargs()["similarity"] == "dot"
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
    from mmae.config import settings_help

    text = settings_help("mmae", "paper", parse_set(["epochs=7"]))
    assert "  epochs = 7" in text and "  image_size = 256" in text
    assert "  num_scales = 5" in text and "  latent_dim = 1024" in text


def test_sections_in_yaml_and_dotted_keys():
    cfg = resolve_config("mmae", "cpu", parse_set(["train.epochs=3", "data.image_size=32",
                                                   "eval.smoothing_sigma=2", "model.gamma=0.25",
                                                   "latent=spatial"]))
    assert (cfg.epochs, cfg.image_size, cfg.smoothing_sigma) == (3, 32, 2.0)
    assert cfg.model_args["gamma"] == 0.25 and cfg.model_args["latent"] == "spatial"
    d = cfg.to_dict()
    assert {"model", "data", "train", "eval"} <= set(d)
    assert d["model"]["name"] == "mmae" and d["train"]["epochs"] == 3
    assert d["eval"]["smoothing_sigma"] == 2.0 and d["data"]["image_size"] == 32
    with pytest.raises(ConfigError, match="unknown setting 'eval.epochs'"):
        resolve_config("mmae", "cpu", {"eval.epochs": 3})
    with pytest.raises(ConfigError, match="unknown setting 'model.beta'"):
        resolve_config("mmae", "cpu", {"model.beta": 1.0})


def test_earlier_flat_config_still_loads():
    cfg = resolve_config("mmae", "cpu", parse_set(["seed=7"]))
    flat = {"model": "mmae", "preset": "cpu", "kind": "image", "data": "",
            "model_args": dict(cfg.model_args),
            **{k: getattr(cfg, k) for k in ("epochs", "image_size", "seed", "smoothing_sigma")}}
    old = RunConfig.from_dict(flat)
    assert (old.seed, old.epochs, old.smoothing_sigma) == (7, cfg.epochs, cfg.smoothing_sigma)


def test_accepts_setting():
    from mmae.config import accepts_setting

    assert accepts_setting("mmae", "epochs") and accepts_setting("mmae", "train.epochs")
    assert accepts_setting("mmae", "num_scales") and accepts_setting("mmae", "model.num_scales")
    assert accepts_setting("vae", "beta") and not accepts_setting("mmae", "beta")
    assert not accepts_setting("vae", "num_scales") and not accepts_setting("mmae", "eval.lr")
    assert accepts_setting("mmae3d", "clip_error") and accepts_setting("ae", "val_fraction")


def test_presets_do_not_undo_themselves():
    from importlib import resources

    for name in list_presets():
        text = resources.files("mmae.presets").joinpath(f"{name}.yaml").read_text()
        assert "../" not in text and "shared" not in text  # nothing outside the package
    for preset in list_presets():
        assert "num_scales" not in resolve_config("memae", preset).model_args
        assert "num_scales" not in resolve_config("ae", preset).model_args
    assert resolve_config("mmae", "cpu").model_kwargs()["num_scales"] == 3
    assert resolve_config("memae", "cpu").model_kwargs().get("num_scales", 1) == 1


def test_paper_preset_uses_memae_video_protocol(cli):
    cfg = resolve_config("mmae3d", "paper")
    assert (cfg.frame_rule, cfg.clip_error) == ("center", "l2norm")
    assert resolve_config("mmae3d", "cpu").clip_error == "squared"
    code, out, _ = cli("train", "--help-settings", "--model", "mmae3d", "--preset", "paper")
    assert code == 0 and "frame_rule = 'center'" in out and "clip_error = 'l2norm'" in out


def test_a_model_argument_named_init_goes_to_the_model_section():
    from torch import nn

    from mmae.config import accepts_setting
    from mmae.models import registry

    class WithInit(nn.Module):
        kind = "image"

        def __init__(self, image_size: int = 32, init: str = "default") -> None:
            super().__init__()
            self.init = init

    registry.register_model("_with_init")(lambda: registry.ModelSpec(WithInit, {}, "image"))
    try:
        preset = {"image": {"models": {"_with_init": {"init": "memae"}}}}
        with TemporaryDirectory() as tmp:
            p = Path(tmp) / "p.yaml"
            p.write_text(yaml.safe_dump(preset))
            cfg = resolve_config("_with_init", str(p))
        assert cfg.model_args == {"init": "memae"} and cfg.to_dict()["model"]["init"] == "memae"
        assert accepts_setting("_with_init", "init") and accepts_setting("_with_init",
                                                                         "model.init")
        assert resolve_config("_with_init", "cpu", {"model.init": "x"}).model_args["init"] == "x"
    finally:
        registry._REGISTRY.pop("_with_init")
