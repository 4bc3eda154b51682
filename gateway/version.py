"""The installed package's version (pyproject.toml's `version`): `smsgw --version`, /healthz, the status page,
the OpenAPI document."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("smsgw")
except PackageNotFoundError:  # run from a checkout that was never installed
    VERSION = "0+unknown"
