"""The one Lambda code asset: the `litestore_webhooks` package plus its runtime dependencies.

Bundled at synth time WITHOUT Docker: `LocalPipBundling` runs pip for the Lambda platform
(manylinux2014 aarch64, CPython of the chosen runtime, wheels only) into the asset directory
and copies the package next to it. The Docker image/command in the bundling options are
only a fallback for hosts where local bundling is impossible (no pip), and they put the
pinned requirements into the asset's source hash, so bumping a pin re-bundles.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
PACKAGE = "litestore_webhooks"

RUNTIME = lambda_.Runtime.PYTHON_3_14  # newest Python runtime in this aws-cdk-lib
ARCHITECTURE = lambda_.Architecture.ARM_64
PYTHON_VERSION = "3.14"
PIP_PLATFORM = "manylinux2014_aarch64"
# jsonschema-rs ships aarch64 wheels for glibc 2.28+ only; Lambda's Python 3.14 (Amazon Linux 2023) has 2.34.
PIP_PLATFORMS = (PIP_PLATFORM, "manylinux_2_28_aarch64")

# Pinned runtime dependencies (same versions the test suite runs with).
REQUIREMENTS = (
    "aws-lambda-powertools[tracer]==3.37.0",
    "requests==2.34.2",
    "idna==3.20",  # core/urls.py imports it for non-ASCII hosts
    "pydantic==2.14.4",
    "cryptography==50.0.2",  # AES-GCM for sealed endpoint secrets (aws/kms.py); not in the Lambda runtime
    "jsonschema-rs==0.60.3",  # event types' JSON Schema 2020-12 (core/event_types/schemas.py, docs/catalog.md)
)
# The Lambda Python runtime ships boto3/botocore/s3transfer; aws-xray-sdk pulls botocore
# in (~30 MB), so we drop them from the bundle and use the runtime's SDK.
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")

# Parts of the package that never run in Lambda (local runtime, operator CLI, demo).
EXCLUDE = ("local", "cli", "cli.py", "demo.py", "__pycache__", "*.pyc", "*.egg-info")
ASSET_EXCLUDE = [
    f"{PACKAGE}/local",
    f"{PACKAGE}/cli",
    f"{PACKAGE}/cli.py",
    f"{PACKAGE}/demo.py",
    "**/__pycache__",
    "**/*.pyc",
    "*.egg-info",
]


def pip_command(target: str, python: str = sys.executable) -> list[str]:
    return [
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        *(arg for platform in PIP_PLATFORMS for arg in ("--platform", platform)),
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--upgrade",
        "--target",
        target,
        *REQUIREMENTS,
    ]


def copy_package(output_dir: Path) -> None:
    shutil.copytree(
        FUNCTIONS_DIR / PACKAGE,
        output_dir / PACKAGE,
        ignore=shutil.ignore_patterns(*EXCLUDE),
        dirs_exist_ok=True,
    )


def prune_runtime_provided(output_dir: Path) -> None:
    for name in PROVIDED_BY_RUNTIME:
        shutil.rmtree(output_dir / name, ignore_errors=True)
        for dist in output_dir.glob(f"{name}-*.dist-info"):
            shutil.rmtree(dist, ignore_errors=True)
    shutil.rmtree(output_dir / "bin", ignore_errors=True)


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """pip-for-the-Lambda-platform bundling on the synth host (no Docker)."""

    def try_bundle(self, output_dir: str, options: object = None, **_: object) -> bool:
        out = Path(output_dir)
        try:
            subprocess.run(pip_command(str(out)), check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"local bundling failed ({exc}); falling back to Docker", file=sys.stderr)
            return False
        prune_runtime_provided(out)
        copy_package(out)
        return True


def _docker_command() -> list[str]:
    reqs = " ".join(f"'{req}'" for req in REQUIREMENTS)
    return [
        "bash",
        "-c",
        f"pip install --no-compile --target /asset-output {reqs}"
        f" && rm -rf {' '.join(f'/asset-output/{n} /asset-output/{n}-*.dist-info' for n in PROVIDED_BY_RUNTIME)}"
        f" && cp -r /asset-input/{PACKAGE} /asset-output/"
        f" && rm -rf /asset-output/{PACKAGE}/local /asset-output/{PACKAGE}/cli /asset-output/{PACKAGE}/cli.py"
        f" /asset-output/{PACKAGE}/demo.py",
    ]


def lambda_code() -> lambda_.Code:
    """One asset for every function: `functions/` bundled with pinned dependencies."""
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        exclude=ASSET_EXCLUDE,
        asset_hash_type=AssetHashType.SOURCE,
        bundling=BundlingOptions(
            image=RUNTIME.bundling_image,
            command=_docker_command(),
            platform="linux/arm64",
            local=LocalPipBundling(),
        ),
    )
