"""The local runtime tells the CLI where it is: `litestore-webhooks --local ...` needs no flags."""

from __future__ import annotations

import json
import os
import stat

from litestore_webhooks.cli import main as cli
from litestore_webhooks.cli import profile
from litestore_webhooks.local.runtime import LocalRuntime


def test_runtime_writes_the_cli_profile_and_leaves_a_newer_runtimes_profile_alone(capsys):
    assert profile.profile_path().is_relative_to(os.environ["XDG_CACHE_HOME"])  # never the real home
    rt = LocalRuntime(port=0)
    rt.start()
    try:
        path = profile.profile_path()
        assert profile.read_local_profile() == {"url": rt.base_url, "apiKey": rt.api_key, "adminToken": rt.admin_token}
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the admin token controls the local API

        capsys.readouterr()
        assert cli(["--local", "--json", "endpoints", "list"]) == 0  # no --url, no token: the profile's
        assert json.loads(capsys.readouterr().out)["data"] == []

        newer = profile.write_local_profile("http://127.0.0.1:1/v1", "another-key", "another-token")
    finally:
        rt.stop()
    assert profile.read_local_profile() == {"url": "http://127.0.0.1:1/v1", "apiKey": "another-key",
                                            "adminToken": "another-token"}
    newer.unlink()


def test_runtime_can_leave_the_profile_alone():
    with LocalRuntime(port=0, write_profile=False):
        assert not profile.profile_path().exists()
