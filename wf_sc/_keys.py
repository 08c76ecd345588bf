"""Every AnnData key that wf_sc reads or writes, in one place.

``key_added`` (default ``"weightflow"``) names the ``uns`` namespace of a fit; the per-cell
outputs live under fixed, guessable keys derived from ``VKEY`` so that scVelo and CellRank find
them (``obsm['wf_velocity']``, ``obsm['wf_velocity_<basis>']``, ``uns['wf_velocity_params']``).
"""

from __future__ import annotations

#: default ``uns`` namespace of a fit
UNS = "weightflow"
#: drift of each cell at its own time, in the representation space (obsm)
VKEY = "wf_velocity"
#: log-density of each cell under the fitted model at its own time (obs)
LOG_DENSITY = "wf_log_density"
#: numeric time written by :func:`wf_sc.pp.prepare` (obs)
TIME = "wf_time"
#: origin of each cell made by ``wf.tl.interpolate`` with ``prediction="meet"`` (obs): the
#: observed cell it was moved from (the earlier of a pair) and that cell's time, and the later
#: observed cell it was paired with ("" where none)
SOURCE_CELL = "source_cell"
SOURCE_TIME = "source_time"
PARTNER_CELL = "partner_cell"
#: default representation
USE_REP = "X_pca"
#: default ``uns`` namespace of ``wf.tl.trajectories`` (paths of cells along the fitted flow)
TRAJECTORIES = "wf_trajectories"
#: ``uns[key_added]['format']`` of a record written by ``wf.tl.trajectories``
TRAJECTORIES_FORMAT = "wf_sc.trajectories"

#: default name of ``wf.tl.growth``'s outputs: per-cell rates (obs) and the mass over time (uns)
GROWTH = "wf_growth"
#: ``uns[key_added]['format']`` of a record written by ``wf.tl.growth``
GROWTH_FORMAT = "wf_sc.growth"

#: ``uns[key_added]['model']['format']`` of a record written by ``wf.tl.fit``
RECORD_FORMAT = "wf_sc.WeightFlow"

# sub-keys of uns[key_added]
PARAMS = "params"
TIMES = "times"
HISTORY = "history"
NLL = "nll"
STANDARDIZATION = "standardization"
MODEL = "model"
POPULATIONS = "populations"


def velocity_basis(basis: str, vkey: str = VKEY) -> str:
    """obsm key of the drift projected to ``basis``: ``'{vkey}_{basis}'`` (scVelo convention)."""
    return f"{vkey}_{basis.removeprefix('X_')}"


def velocity_params(vkey: str = VKEY) -> str:
    """uns key listing the embeddings the drift was projected to (scVelo convention)."""
    return f"{vkey}_params"


def basis_key(basis: str) -> str:
    """obsm key of an embedding: ``'umap'`` -> ``'X_umap'``; ``'X_umap'`` stays."""
    return basis if basis.startswith("X_") or basis == "X" else f"X_{basis}"


def output_keys(key_added: str = UNS) -> tuple[str, str]:
    """(obsm velocity key, obs log-density key) written by a fit stored under ``uns[key_added]``.

    The default fit writes ``wf_velocity`` / ``wf_log_density``; a fit with another ``key_added``
    writes ``{key_added}_velocity`` / ``{key_added}_log_density`` so two fits never overwrite
    each other.
    """
    if key_added == UNS:
        return VKEY, LOG_DENSITY
    return f"{key_added}_velocity", f"{key_added}_log_density"


def trajectory_keys(key_added: str = TRAJECTORIES) -> dict[str, str]:
    """Per-cell outputs of ``wf.tl.trajectories`` stored under ``uns[key_added]``: where each path ends
    (obsm ``end``), the fate cluster (obs ``fate``) and the fate probabilities (obsm ``fate_probabilities``)."""
    return {"end": f"{key_added}_end", "fate": f"{key_added}_fate", "fate_probabilities": f"{key_added}_fate_probabilities"}


def check_own(adata, key_added: str, fmt: str, *, obs: tuple[str, ...] = (), obsm: tuple[str, ...] = ()) -> None:
    """Refuse to write ``uns[key_added]`` and the ``obs``/``obsm`` keys unless each is free or was written
    by an earlier call of the same tool (``uns[key_added]['format'] == fmt`` and listed in its ``keys``)."""
    if not isinstance(key_added, str) or not key_added or "/" in key_added:
        raise ValueError(
            f"key_added must be a non-empty name without '/' (h5ad files cannot store it), got {key_added!r}"
        )
    old = adata.uns.get(key_added)
    ours = hasattr(old, "get") and str(old.get("format", "")) == fmt
    named = set(dict(old.get("keys", {})).values()) if ours else set()
    taken = [f"adata.uns[{key_added!r}]"] if old is not None and not ours else []
    taken += [f"adata.obs[{k!r}]" for k in obs if k in adata.obs.columns and k not in named]
    taken += [f"adata.obsm[{k!r}]" for k in obsm if k in adata.obsm and k not in named]
    if taken:
        raise ValueError(
            f"key_added={key_added!r} would overwrite {', '.join(taken)}, which this tool did not write. "
            "Nothing was changed; pass another key_added."
        )


def is_fit_record(entry) -> bool:
    """Whether an ``uns`` entry is a record written by ``wf.tl.fit`` (its ``model`` has our format)."""
    try:
        return str(entry[MODEL]["format"]) == RECORD_FORMAT
    except (KeyError, TypeError, IndexError):
        return False


def check_free(adata, key_added: str = UNS) -> None:
    """Refuse a fit that would overwrite keys it did not write.

    ``uns[key_added]`` may only be replaced when it is a record of an earlier fit
    (:func:`is_fit_record`); ``obsm``/``obs`` keys of :func:`output_keys` only when that record
    names them. Otherwise the error names the key in the way and a free ``key_added``.
    """
    if not isinstance(key_added, str) or not key_added or "/" in key_added:
        raise ValueError(
            f"key_added must be a non-empty name without '/' (h5ad files cannot store it), got {key_added!r}"
        )
    vkey, dkey = output_keys(key_added)
    old = adata.uns.get(key_added)
    ours = old is not None and is_fit_record(old)
    named = dict(old.get("keys", {})) if ours and hasattr(old, "get") else {}
    taken = []
    if old is not None and not ours:
        taken.append(f"adata.uns[{key_added!r}]")
    if vkey in adata.obsm and named.get("velocity") != vkey:
        taken.append(f"adata.obsm[{vkey!r}]")
    if dkey in adata.obs.columns and named.get("log_density") != dkey:
        taken.append(f"adata.obs[{dkey!r}]")
    if taken:
        free = next(
            k
            for k in (f"{UNS}_{i}" if i else UNS for i in range(1000))
            if k not in adata.uns and output_keys(k)[0] not in adata.obsm and output_keys(k)[1] not in adata.obs
        )
        raise ValueError(
            f"key_added={key_added!r} would overwrite {', '.join(taken)}, which no WeightFlow fit wrote. "
            f"Nothing was changed; pass a free name, e.g. key_added={free!r}."
        )
