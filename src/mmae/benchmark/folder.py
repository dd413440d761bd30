"""A benchmark folder's identity: ``benchmark.json``, written first, checked on every resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmae.errors import RunFolderError
from mmae.runs import checkpoint as ck

MANIFEST = "benchmark.json"
MANIFEST_FORMAT = 2  # 2: cells per seed (cells/<category>/<model>/seed<k>)


def _diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    """A short description of how two manifests differ."""
    out = []
    if old.get("format") != new.get("format"):
        return f"made by another mmae version (format {old.get('format')})"
    for key in ("kind", "data", "models", "categories", "seeds", "grid", "preset", "sets"):
        if old.get(key) != new.get(key):
            out.append(f"{key}: {old.get(key)!r} here, {new.get(key)!r} now")
    for m, cfg in (new.get("configs") or {}).items():
        before = (old.get("configs") or {}).get(m)
        if before is not None and before != cfg:
            keys = sorted(k for k in set(cfg) | set(before) if cfg.get(k) != before.get(k))
            out.append(f"resolved settings of {m} ({', '.join(keys)})")
    return "; ".join(out) or "format"


def open_benchmark_dir(out: Path, manifest: dict[str, Any], overwrite: bool) -> Path:
    """Create ``out`` or reopen it to resume the same benchmark.

    Raises:
        RunFolderError: ``out`` holds something else (another benchmark, other files) and
            ``overwrite`` is False.
    """
    out = Path(out)
    path = out / MANIFEST
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        if not path.is_file():
            raise RunFolderError(f"--out {out} is not empty and holds no {MANIFEST}; choose "
                                 f"another --out or pass --overwrite")
        try:
            old = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunFolderError(f"{path} is unreadable ({exc}); pass --overwrite") from None
        new = json.loads(json.dumps(manifest))
        if _adds_seeds(old, new):
            ck.atomic_write_text(path, json.dumps(manifest, indent=2))
            return out
        if old != new:
            raise RunFolderError(f"--out {out} holds a different benchmark ({_diff(old, manifest)}"
                                 f"); use another --out, or --overwrite to replace it (kept as "
                                 f"{out.name}.old)")
        return out
    ck.prepare_out_dir(out, overwrite, what="benchmark folder")
    ck.atomic_write_text(path, json.dumps(manifest, indent=2))
    return out


def _adds_seeds(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether ``new`` is ``old`` with more seeds (resuming then adds the missing cells)."""
    rest = {k: v for k, v in old.items() if k != "seeds"}
    return (old.get("seeds") != new.get("seeds") and isinstance(old.get("seeds"), list)
            and set(old["seeds"]) <= set(new.get("seeds") or [])
            and rest == {k: v for k, v in new.items() if k != "seeds"})
