"""The pure, offline part of the generated Python bindings: catalog and typed errors."""

import pytest

import xuncha_ffi as x


def test_catalog_lists_every_category_with_chinese_name_and_legal_basis():
    entries = x.catalog()
    assert len(entries) == len(x.Category)
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


def test_gcj02_round_trip_and_beijing_time():
    import datetime

    wgs = x.LatLon(lat=39.1135, lon=117.1930)
    gcj = x.wgs84_to_gcj02(wgs.lat, wgs.lon)
    assert 100 < x.distance_m(wgs, gcj) < 1000
    back = x.gcj02_to_wgs84(gcj.lat, gcj.lon)
    assert x.distance_m(wgs, back) < 5
    at = datetime.datetime(2026, 11, 27, 8, 58, tzinfo=datetime.timezone.utc)
    assert x.format_beijing_time(at) == "2026-11-27 16:58"
