"""Run configuration: the settings in sections, the presets, and their resolution."""

from mmae.config.run_config import (
    RunConfig,
    accepts_setting,
    list_presets,
    load_preset,
    override_eval_settings,
    parse_set,
    resolve_config,
    settings_help,
)

__all__ = ["RunConfig", "accepts_setting", "list_presets", "load_preset", "override_eval_settings",
           "parse_set", "resolve_config", "settings_help"]
