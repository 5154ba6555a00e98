"""Which Ray engine runs `ingest --ray`: the actor pool (multimodal/ray_ingest.py, the default) or Ray Data
(multimodal/ray_data.py, `--ray-engine data`, kept for measurement; docs/scaling.md says why the pool)."""

from __future__ import annotations

from multimodal.config import Settings
from multimodal.errors import ConfigError
from multimodal.model_spec import ModelSpec
from multimodal.ray_ingest import RayLoader
from multimodal.ray_options import RayOptions


def make_loader(options: RayOptions, settings: Settings, spec: ModelSpec) -> RayLoader:
    """Join the cluster and return the loader: the actor pool, or Ray Data with `engine="data"`.

    Raises:
        ConfigError: Ray (or, for the data engine, Ray Data) is not installed; or workers would write to an
            embedded index.
        RayClusterError: the cluster is unreachable.
    """
    if options.writes == "workers" and not settings.chroma_url:
        raise ConfigError("--ray-writes workers needs a Chroma server (--chroma-url): an embedded index is "
                          "written only by the driver")
    if options.engine == "data":
        try:
            import ray.data  # noqa: F401 - Ray Data needs pyarrow, which plain `ray` does not install
        except ImportError as e:
            raise ConfigError(f"--ray-engine data needs Ray Data ({e}): pip install 'ray[data]'") from e
        from multimodal.ray_data import RayDataLoader

        return RayDataLoader(options, settings, spec)
    return RayLoader(options, settings, spec)
