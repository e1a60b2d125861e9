"""The generated Python bindings against the real library and the real xuncha-server: the same
flow as the JVM tests (enrol, capture with a real JPEG, routing preview, sync, the street office
dispatches from its own client, the inspector sees 已派遣), plus typed errors."""

import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.request
from pathlib import Path

import pytest

import xuncha_ffi as x
from xuncha_transport import UrllibTransport, run

if not hasattr(x, "XunchaClient"):
    pytest.skip("XunchaClient is not exported yet (bindings/src/lib.rs): server flow not run",
                allow_module_level=True)

REPO_ROOT = Path(__file__).resolve().parents[2]
JPEG = REPO_ROOT / "bindings" / "tests" / "data" / "estate-gate.jpg"
CHANGCHUNLI = x.GpsFix(lat=39.1135, lon=117.1930, accuracy_m=8.0, provider="gps")


@pytest.fixture(scope="module")
def server():
    binary = os.environ.get("XUNCHA_SERVER_BIN")
    if not binary or not os.access(binary, os.X_OK):
        raise RuntimeError(f"XUNCHA_SERVER_BIN not executable: {binary!r} (test-bindings.sh sets it)")
    data = tempfile.mkdtemp(prefix="xuncha-server-")
    log = open(os.path.join(data, "server.log"), "wb")
    proc = subprocess.Popen(
        [binary, "serve", "--demo", "--no-history", "--data", os.path.join(data, "db"), "--bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=log, text=True,
    )
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()
    password = url = None
    while url is None:
        try:
            line = lines.get(timeout=90)
        except queue.Empty:
            proc.kill()
            raise RuntimeError("server did not print its address")
        if m := re.search(r"password for all: (\S+?)\)", line):
            password = m.group(1)
        if m := re.search(r"on (http://[0-9.]+:[0-9]+)/", line):
            url = m.group(1)
    yield url, password
    proc.terminate()
    proc.wait(timeout=10)
    log.close()
    shutil.rmtree(data, ignore_errors=True)


def new_client() -> x.XunchaClient:
    """A phone: its own database, HTTP through the Python transport (urllib)."""
    return x.XunchaClient(os.path.join(tempfile.mkdtemp(prefix="xuncha-phone-"), "xuncha.db"),
                          UrllibTransport())


class Phases(x.SyncListener):
    def __init__(self):
        self.seen = []

    def on_progress(self, progress):
        self.seen.append(progress.phase)


def test_report_sync_dispatch_round_trip(server):
    url, password = server

    async def flow():
        inspector = new_client()
        user = (await inspector.enrol(url, "inspector.changchunli", password, "pytest 巡查员")).user
        assert user.role == x.Role.INSPECTOR

        routing = inspector.preview_routing(x.Category.STREET_LIGHT, "changchunli")
        assert routing.owner.unit_type == x.UnitType.CITY_MANAGEMENT

        captured = inspector.capture(x.CaseDraft(
            category=x.Category.STREET_LIGHT, estate_id="changchunli", building="3号楼",
            unit_no=None, location_note=None, description="路灯不亮", gps=CHANGCHUNLI,
            photo_paths=[str(JPEG)],
        ))
        case_id = captured.case.id
        assert captured.case.status == x.CaseStatus.REPORTED

        phases = Phases()
        report = await inspector.sync(phases)
        assert (report.events_accepted, report.events_rejected, report.photos_uploaded) == (1, 0, 1)
        assert x.SyncPhase.UPLOAD_PHOTOS in phases.seen

        street = new_client()
        await street.enrol(url, "street.nanyingmen", password, "pytest 街道")
        await street.sync(None)
        seen = street.case_detail(case_id)
        assert x.ActionKind.DISPATCH in seen.allowed_actions
        # The server numbered the case at ingest; both phones got the number by sync.
        assert re.fullmatch(r"和平-\d{8}-\d{4}", seen.number or ""), seen.number
        assert inspector.case_detail(case_id).number == seen.number
        street.act(case_id, x.ActionDraft(
            action=x.CaseAction.DISPATCH(unit_id=routing.owner.id), note=None, gps=None,
            photo_paths=[], photo_kind=x.PhotoKind.BEFORE,
        ))
        await street.sync(None)

        await inspector.sync(None)
        after = inspector.case_detail(case_id)
        assert after.case.status == x.CaseStatus.DISPATCHED
        assert x.case_status_name_zh(after.case.status) == "已派遣"

    run(flow())


def test_wrong_password_is_unauthenticated(server):
    url, _ = server
    with pytest.raises(x.XunchaError.Unauthenticated):
        run(new_client().enrol(url, "inspector.changchunli", "wrong", "pytest"))


def test_inspector_may_not_dispatch(server):
    url, password = server
    phone = new_client()
    run(phone.enrol(url, "inspector.changchunli", password, "pytest"))
    case = phone.capture(x.CaseDraft(
        category=x.Category.STREET_LIGHT, estate_id="changchunli", building=None, unit_no=None,
        location_note=None, description=None, gps=CHANGCHUNLI, photo_paths=[str(JPEG)],
    )).case
    with pytest.raises(x.XunchaError.NotAllowed) as caught:
        phone.act(case.id, x.ActionDraft(
            action=x.CaseAction.DISPATCH(unit_id="heping.city_management"), note=None, gps=None,
            photo_paths=[], photo_kind=x.PhotoKind.BEFORE,
        ))
    assert caught.value.code == "ROLE_NOT_ALLOWED"


def files_containing(folder: Path, needle: str) -> list:
    """Every file under `folder` whose bytes contain `needle`."""
    wanted = needle.encode()
    return [p for p in folder.rglob("*") if p.is_file() and wanted in p.read_bytes()]


def revoke_device(url: str, password: str, device_id: str) -> None:
    """Revokes the device as the civil-affairs admin would, through the server's admin API."""
    def post(path, body, token=None):
        request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"content-type": "application/json"})
        if token:
            request.add_header("authorization", f"Bearer {token}")
        with urllib.request.urlopen(request) as answer:
            return answer.status, answer.read()

    _, body = post("/api/v1/auth/enrol",
                   {"username": "admin", "password": password, "device_name": "pytest admin"})
    status, _ = post(f"/api/v1/admin/devices/{device_id}/revoke", {}, json.loads(body)["access_token"])
    assert status == 204


def test_session_resumes_after_restart_and_no_file_holds_the_token(server):
    url, password = server
    folder = Path(tempfile.mkdtemp(prefix="xuncha-phone-"))
    db = str(folder / "xuncha.db")

    first = x.XunchaClient(db, UrllibTransport())
    session = run(first.enrol(url, "inspector.changchunli", password, "pytest 重启"))
    token = session.refresh_token.expose()
    assert token not in str(session) and token not in repr(session)
    assert "RefreshToken(***)" in str(session)
    first.capture(x.CaseDraft(
        category=x.Category.GARBAGE, estate_id="changchunli", building=None, unit_no=None,
        location_note=None, description=None, gps=CHANGCHUNLI, photo_paths=[str(JPEG)],
    ))
    del first

    legacy = folder / "xuncha.session.json"
    legacy.write_text(json.dumps({"refresh_token": token}))
    second = x.XunchaClient(db, UrllibTransport())
    assert not legacy.exists()
    assert second.current_user() is None
    with pytest.raises(x.XunchaError.Unauthenticated):
        run(second.sync(None))

    second.resume(x.DeviceSession(server_url=session.server_url, device_id=session.device_id,
                                  refresh_token=x.RefreshToken(token), user=session.user))
    assert second.current_user() == session.user
    report = run(second.sync(None))
    assert (report.events_accepted, report.photos_uploaded) == (1, 1)
    assert files_containing(folder, token) == []


def test_garbage_or_revoked_token_is_unauthenticated(server):
    url, password = server
    session = run(new_client().enrol(url, "inspector.changchunli", password, "pytest 丢失"))

    forged = new_client()
    forged.resume(x.DeviceSession(server_url=url, device_id=session.device_id,
                                  refresh_token=x.RefreshToken("xrt_forged"), user=session.user))
    with pytest.raises(x.XunchaError.Unauthenticated) as caught:
        run(forged.sync(None))
    assert caught.value.code == "REFRESH_INVALID"

    revoke_device(url, password, session.device_id)
    restarted = new_client()
    restarted.resume(session)
    with pytest.raises(x.XunchaError.Unauthenticated) as caught:
        run(restarted.sync(None))
    assert caught.value.code == "REVOKED"


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connecting is refused at once."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_sign_out_revokes_the_device_and_offline_sign_out_is_local_only(server):
    url, password = server
    phone = new_client()
    session = run(phone.enrol(url, "inspector.changchunli", password, "pytest 退出"))
    assert isinstance(run(phone.sign_out()), x.SignOutOutcome.REVOKED)
    assert phone.current_user() is None
    restarted = new_client()
    restarted.resume(session)
    with pytest.raises(x.XunchaError.Unauthenticated) as caught:
        run(restarted.sync(None))
    assert caught.value.code == "REVOKED"

    live = run(new_client().enrol(url, "inspector.changchunli", password, "pytest 离线退出"))
    offline = new_client()
    offline.resume(x.DeviceSession(server_url=closed_port_url(), device_id=live.device_id,
                                   refresh_token=live.refresh_token, user=live.user))
    outcome = run(offline.sign_out())
    assert isinstance(outcome, x.SignOutOutcome.FORGOTTEN_LOCALLY_ONLY), outcome
    assert outcome.code == "NETWORK"
    assert offline.current_user() is None
