"""The one SHA-256 helper and the one relative-path helper."""

from __future__ import annotations

import hashlib

from evaluation.provenance import relative_path, sha256_bytes, sha256_file


def test_file_and_bytes_digests_agree_with_hashlib(tmp_path):
    data = b"org_code,period\n" * 100_000  # larger than one block
    f = tmp_path / "a.csv"
    f.write_bytes(data)
    assert sha256_file(f) == sha256_bytes(data) == hashlib.sha256(data).hexdigest()


def test_relative_path_inside_outside_and_without_a_root(tmp_path):
    inner = tmp_path / "data" / "sub" / "x.csv"
    assert relative_path(inner, tmp_path / "data") == "sub/x.csv"
    assert relative_path(tmp_path / "elsewhere" / "y.csv", tmp_path / "data") == "y.csv"
    assert relative_path(tmp_path / "y.csv", tmp_path / "data", default="kept") == "kept"
    assert relative_path(inner, None) == "x.csv"
