"""The local runtime tells the CLI where it is: `litestore-webhooks --local ...` needs no flags.
(tests/test_e2e_operator.py runs two runtime processes side by side.)"""

from __future__ import annotations

import json
import os
import stat

from litestore_webhooks.cli import main as cli
from litestore_webhooks.cli import profile
from litestore_webhooks.local.runtime import LocalRuntime


def _by_port() -> dict[int, profile.LocalProfile]:
    return {p.port: p for p in profile.running_local_profiles()}


def test_runtime_writes_its_own_profile_and_leaves_anothers_alone(capsys):
    assert profile.profile_dir().is_relative_to(os.environ["XDG_CACHE_HOME"])  # never the real home
    rt = LocalRuntime(port=0)
    rt.start()
    port = int(rt.base_url.split(":")[-1].split("/")[0])
    try:
        mine = _by_port()[port]
        assert (mine.url, mine.api_key, mine.admin_token, mine.pid) == (
            rt.base_url,
            rt.api_key,
            rt.admin_token,
            os.getpid(),
        )
        assert mine.path == profile.profile_dir() / f"{port}.json"
        assert stat.S_IMODE(mine.path.stat().st_mode) == 0o600  # the admin token controls the local API

        capsys.readouterr()
        assert cli(["--local", str(port), "--json", "endpoints", "list"]) == 0  # no --url, no token: the profile's
        assert json.loads(capsys.readouterr().out)["data"] == []

        # Another runtime (another pid) took the port over and wrote its profile: ours must not remove it.
        newer = profile.write_local_profile(rt.base_url, "another-key", "another-token", pid=os.getppid())
    finally:
        rt.stop()
    assert _by_port()[port].api_key == "another-key"
    newer.unlink()


def test_runtime_can_leave_the_profile_alone():
    before = set(profile.profile_dir().glob("*.json")) if profile.profile_dir().exists() else set()
    with LocalRuntime(port=0, write_profile=False):
        assert set(profile.profile_dir().glob("*.json")) == before
