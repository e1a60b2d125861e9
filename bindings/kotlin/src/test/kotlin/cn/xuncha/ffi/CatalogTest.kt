package cn.xuncha.ffi

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** The offline part of the generated Kotlin: catalog, labels, typed exceptions. */
class CatalogTest {
    @Test
    fun `catalog lists every category with Chinese name and legal basis`() {
        val entries = catalog()
        assertEquals(Category.entries.size, entries.size)
        val lock = entries.single { it.code == "GROUND_LOCK" }
        assertEquals(Category.GROUND_LOCK, lock.category)
        assertEquals("私自设置地锁", lock.nameZh)
        assertTrue("三(三)3" in lock.policySections)
        assertTrue(lock.legalBasis.contains("第69条（街道办事处）"), lock.legalBasis)
        assertFalse(categoryInfo(Category.GAS_FACILITY).dissuadeFirst)
    }

    @Test
    fun `labels are Chinese`() {
        assertEquals("已派遣", caseStatusNameZh(CaseStatus.DISPATCHED))
        assertEquals("巡查员", roleNameZh(Role.INSPECTOR))
        assertEquals("派遣", actionNameZh(ActionKind.DISPATCH))
    }

    @Test
    fun `unknown category code is a typed InvalidInput exception`() {
        val e = assertThrows<XunchaException.InvalidInput> { categoryFromCode("NOT_A_CATEGORY") }
        assertEquals("UNKNOWN_CATEGORY", e.code)
    }
}

class GeoTest {
    @Test
    fun `GCJ-02 shifts a Tianjin point by a few hundred metres and converts back`() {
        val wgs = LatLon(39.1135, 117.1930)
        val gcj = wgs84ToGcj02(wgs.lat, wgs.lon)
        val shift = distanceM(wgs, gcj)
        assertTrue(shift in 100.0..1000.0, "shift $shift m")
        val back = gcj02ToWgs84(gcj.lat, gcj.lon)
        assertTrue(distanceM(wgs, back) < 5.0)
    }

    @Test
    fun `times are shown in Beijing time`() {
        assertEquals("2026-11-27 16:58", formatBeijingTime(java.time.Instant.parse("2026-11-27T08:58:00Z")))
    }
}
