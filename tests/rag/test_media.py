"""Media references: parsed strictly, resolved inside their own tenant's folder, whatever the input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from rag.media import InvalidMediaRefError, MediaRef, MediaStore

KEY = "0123456789abcdef0123456789abcdef"
VERSION = "fedcba9876543210"


def test_a_reference_the_store_writes_parses_back_to_itself(tmp_path: Path) -> None:
    media = MediaStore(tmp_path)
    ref = media.save("acme", "docs/a.pdf", "ab" * 32, "page-1/chunk-0", Image.new("RGB", (8, 8)))
    parsed = MediaRef.parse(ref)
    assert str(parsed) == ref and parsed.tenant == "acme" and parsed.name == "page-1_chunk-0.jpg"
    assert media.resolve(ref) == (tmp_path / ref).resolve()
    assert media.open_image(ref) is not None


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "acme",
        f"acme/{KEY}/{VERSION}",
        f"acme/{KEY}/{VERSION}/page-1.jpg/x.jpg",
        f"globex/../acme/{KEY}/{VERSION}/page-1.jpg",
        f"../acme/{KEY}/{VERSION}/page-1.jpg",
        f"./{KEY}/{VERSION}/page-1.jpg",
        f"acme/../{VERSION}/page-1.jpg",
        f"acme/{KEY}/../page-1.jpg",
        f"acme/{KEY}/{VERSION}/..",
        f"acme/{KEY}/{VERSION}/.jpg",
        f"acme/{KEY}/{VERSION}/..jpg",
        f"acme/{KEY}/{VERSION}/a..b.jpg",
        f"acme//{VERSION}/page-1.jpg",
        f"/acme/{KEY}/{VERSION}/page-1.jpg",
        f"acme/{KEY}/{VERSION}/page-1.jpg/",
        f"acme/{KEY}/{VERSION}/page-1.png",
        f"acme/{KEY}/{VERSION}/page%2f1.jpg",
        f"acme/{KEY}/{VERSION}/%2e%2e.jpg",
        f"acme/{KEY}/{VERSION}/page\\..\\1.jpg",
        f"acme/{KEY}/{VERSION}/page\x001.jpg",
        f"acme/{KEY.upper()}/{VERSION}/page-1.jpg",
        f"acme/{KEY[:-1]}/{VERSION}/page-1.jpg",
        f"acme/{KEY}/{VERSION}0/page-1.jpg",
        f"-acme/{KEY}/{VERSION}/page-1.jpg",
        f"..acme/{KEY}/{VERSION}/page-1.jpg",
        f"acme\n/{KEY}/{VERSION}/page-1.jpg",
    ],
)
def test_anything_but_the_stores_own_form_is_refused(ref: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidMediaRefError):
        MediaRef.parse(ref)
    with pytest.raises(InvalidMediaRefError):
        MediaStore(tmp_path).resolve(ref)


def test_a_link_inside_a_tenants_folder_cannot_lead_to_another_tenant(tmp_path: Path) -> None:
    media = MediaStore(tmp_path)
    theirs = media.save("acme", "secret.png", "cd" * 32, "image", Image.new("RGB", (8, 8)))
    ours = tmp_path / "globex" / KEY
    ours.mkdir(parents=True)
    os.symlink(tmp_path / Path(theirs).parent, ours / VERSION)  # globex/<key>/<version> -> acme's version folder
    with pytest.raises(InvalidMediaRefError, match="leads out"):
        media.resolve(f"globex/{KEY}/{VERSION}/image.jpg")
    assert media.open_image(f"globex/{KEY}/{VERSION}/image.jpg") is None
    (tmp_path / "globex" / "link").symlink_to(tmp_path / "acme")
    with pytest.raises(InvalidMediaRefError):
        media.resolve(f"globex/link/{VERSION}/image.jpg")


_PIECES = st.sampled_from(
    ["acme", "globex", "..", ".", "", KEY, VERSION, "image.jpg", "page-1.jpg", "%2e%2e", "%2f", "\\", "~", "\x00"]
)
_REFS = st.one_of(
    st.lists(_PIECES, min_size=0, max_size=7).map("/".join),
    st.text(alphabet=st.sampled_from(list("acmeglobx./\\%2f0-_9j")), max_size=60),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ref=_REFS)
def test_no_reference_resolves_outside_the_tenant_it_names(ref: str, tmp_path: Path) -> None:
    media = MediaStore(tmp_path / "media")
    try:
        parsed = MediaRef.parse(ref)
        path = media.resolve(parsed)
    except InvalidMediaRefError:
        return
    tenant_dir = (tmp_path / "media" / parsed.tenant).resolve()
    assert path.is_relative_to(tenant_dir) and path != tenant_dir
    assert str(parsed) == ref  # only the canonical form parses: the string checked is the string signed and read
