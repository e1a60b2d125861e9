"""The pure, offline part of the generated Python bindings: catalog and typed errors."""

import pytest

import xuncha_ffi as x


def test_catalog_lists_every_category_with_chinese_name_and_legal_basis():
    entries = x.catalog()
    assert len(entries) == 26
    lock = next(e for e in entries if e.code == "GROUND_LOCK")
    assert lock.category == x.Category.GROUND_LOCK
    assert lock.name_zh == "私自设置地锁"
    assert "三(三)3" in lock.policy_sections
    assert "第69条（街道办事处）" in lock.legal_basis
    assert x.category_info(x.Category.GAS_FACILITY).dissuade_first is False


def test_unknown_category_code_raises_typed_invalid_input():
    with pytest.raises(x.XunchaError.InvalidInput) as caught:
        x.category_from_code("NOT_A_CATEGORY")
    assert caught.value.code == "UNKNOWN_CATEGORY"
