"""``state_file``: the state survives a restart, and async lookups resume."""

from __future__ import annotations

import time
from pathlib import Path

from airflow_provider_msgflash.sandbox import running_sandbox
from tests.sandbox.sandbox_testkit import Api, nums


def test_state_file_survives_restart_and_lookups_resume(tmp_path: Path) -> None:
    path = str(tmp_path / "sandbox.sqlite")
    with running_sandbox(state_file=path, rate_limit=0, pace=0.05, monthly_quota=1000) as sb:
        api = Api(sb)
        connected = sb.instance_id("sandbox-connected")
        sync = api.data("POST", "/number-lookups", json={"instanceId": connected, "numbers": nums(30)})
        api.data("POST", f"/number-lookups/{sync['lookupId']}/import-contacts", json={"tag": "kept"})
        api.data("POST", "/contacts", 201, json={"name": "Ada", "phone": "+41791112233", "tags": ["vip"]})
        sb.set_instance_status("sandbox-disconnected", "connected")
        running = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(2000)})
        lid = running["lookupId"]
        deadline = time.monotonic() + 10
        while (before := api.data("GET", f"/number-lookups/{lid}/progress"))["checkedCount"] < 40:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        contacts_before = api.data("GET", "/contacts", params={"limit": 100})
        quota_before = sb.state()["quota_used"]
        api.close()
    assert Path(path).exists()

    with running_sandbox(state_file=path, rate_limit=0, pace=0.005, monthly_quota=1000) as sb2:
        api = Api(sb2)
        st = sb2.state()
        assert st["quota_used"] >= quota_before
        assert [lk["id"] for lk in st["lookups"]] == [sync["lookupId"], lid]
        assert api.data("GET", f"/number-lookups/{sync['lookupId']}")["result"] == sync["result"]
        assert api.data("GET", "/contacts", params={"limit": 100}) == contacts_before
        assert api.data("GET", f"/instances/{sb2.instance_id('sandbox-disconnected')}")["status"] == "connected"
        first = api.data("GET", f"/number-lookups/{lid}/progress")
        assert first["checkedCount"] >= before["checkedCount"]
        assert first["createdAt"] == before["createdAt"]
        deadline = time.monotonic() + 20
        while (p := api.data("GET", f"/number-lookups/{lid}/progress"))["status"] != "done":
            assert p["status"] == "processing" and time.monotonic() < deadline
            assert p["checkedCount"] == p["onWhatsAppCount"] + p["notOnWhatsAppCount"]
            time.sleep(0.05)
        assert p["checkedCount"] == 2000
        out = api.data("POST", f"/number-lookups/{lid}/import-contacts", json={"tag": "kept"})
        assert out["imported"] == 1000 - 15 and out["alreadyExisting"] == 15  # nums(30) shares its first 30
        # A reset empties the file too.
        sb2.reset()
        assert sb2.state()["lookups"] == []
        api.close()

    with running_sandbox(state_file=path, rate_limit=0) as sb3:
        assert sb3.state()["lookups"] == [] and sb3.state()["contacts"] == 0
