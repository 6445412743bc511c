"""The digest's HTML as a mail client shows it: rendered in headless Chromium with the
chart resolved from its ``cid:`` part, the tables there and the image actually decoded."""

from __future__ import annotations

import re
import shutil
import subprocess
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlmodel import Session, select

from outreach.bootstrap import App
from outreach.core.clock import FixedClock
from outreach.db.models import OutboundMessage
from outreach.services.blobs import get_blob
from outreach.services.digest import DIGEST_KIND
from tests.support.services import require_service
from tests.test_digest import _first_digest, build_season, check_structure

PROBE = """<script>
window.addEventListener("load", function () {
  var img = document.getElementById("chart");
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = "chart-natural-width=" + (img ? img.naturalWidth : -1) +
    " tables=" + document.querySelectorAll("table").length;
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    require_service(found is not None, "Chromium",
                    "apt-get install --no-install-recommends chromium")
    assert found is not None
    return found


def _run(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--hide-scrollbars", "--window-size=1000,2000", *args],
        capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_digest_html_renders_with_its_chart_and_tables(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    binary = chromium()
    build_season(app, session, clock, tmp_path)
    outbound = _first_digest(app, clock)
    raw = get_blob(app.settings.attachments_dir, outbound.raw_sha256 or "")
    message = message_from_bytes(raw, policy=policy.default)
    _, html, png = check_structure(message)  # type: ignore[arg-type]
    related = message.get_payload()[1]  # type: ignore[index]
    cid = related.get_payload()[1]["Content-ID"].strip()[1:-1]
    # resolve the cid: reference the way a mail client does: to the related part's bytes
    page = tmp_path / "render"
    page.mkdir()
    (page / "chart.png").write_bytes(png)
    resolved = html.replace(f"cid:{cid}", "chart.png").replace("</body>", PROBE + "</body>")
    (page / "digest.html").write_text(resolved, encoding="utf-8")
    url = (page / "digest.html").as_uri()

    dom = _run(binary, "--virtual-time-budget=5000", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    probe = re.search(r"chart-natural-width=(-?\d+) tables=(\d+)", dom.stdout)
    assert probe is not None, dom.stdout[-2000:]
    assert int(probe.group(1)) == 640  # the PNG decoded at its real size
    assert int(probe.group(2)) >= 12
    for table_id in ("coverage", "by-stage", "by-country", "by-metal", "accepted-table",
                     "rejected-table", "awaiting-table", "upcoming-table", "handed-over-table",
                     "red-flags-table", "quarantined-table", "bounced-table", "failed-table"):
        assert f'id="{table_id}"' in dom.stdout, table_id
    assert 'id="delivery-paused"' in dom.stdout and "Alpha Metall GmbH" in dom.stdout

    shot = tmp_path / "out.png"
    taken = _run(binary, f"--screenshot={shot}", url)
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    with app.sessions() as check:
        assert check.exec(select(OutboundMessage)
                          .where(OutboundMessage.kind == DIGEST_KIND)).one().id == outbound.id
