"""The dashboard's static files: vendored files match their pinned checksums and licenses,
and everything a browser may load stays under the size budget."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hourglass.web.dashboard.assets import Assets

STATIC = Path(__file__).parents[2] / "src/hourglass/web/dashboard/static"
VENDOR = STATIC / "vendor"
BUDGET = 100 * 1024  # all JS + CSS, gzipped


def test_vendored_files_match_their_checksums() -> None:
    """Every vendored file is listed in SHA256SUMS with its exact digest, and nothing else is."""
    listed = {}
    for line in (VENDOR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name] = digest
    present = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()}
    assert set(listed) == present - {"SHA256SUMS"}
    for name, digest in listed.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_each_vendored_package_has_its_license() -> None:
    """Each pinned package@version in VERSIONS ships its license file."""
    packages = {line.split()[0] for line in (VENDOR / "VERSIONS").read_text().splitlines()}
    assert packages == {"htmx.org@2.0.11", "uplot@1.6.32", "ansi_up@6.0.6"}
    for package in packages:
        assert (VENDOR / "licenses" / f"{package}.LICENSE").stat().st_size > 0


def test_all_js_and_css_fit_the_budget() -> None:
    """Every script and stylesheet together, gzipped, stays under 100 KB."""
    assert Assets(STATIC).gzipped_bytes(".js", ".css") < BUDGET


def test_the_version_changes_with_any_file(tmp_path: Path) -> None:
    """The URL version is a digest of the files: change one byte, get a new version."""
    (tmp_path / "app.js").write_text("1")
    before = Assets(tmp_path).version
    (tmp_path / "app.js").write_text("2")
    assert Assets(tmp_path).version != before
