package cn.xuncha.app.core

import cn.xuncha.ffi.CHANGCHUNLI
import cn.xuncha.ffi.CaptureWarning
import cn.xuncha.ffi.Category
import cn.xuncha.ffi.CaseStatus
import cn.xuncha.ffi.DemoServer
import cn.xuncha.ffi.GpsFix
import cn.xuncha.ffi.newClient
import cn.xuncha.ffi.testJpeg
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

private suspend fun <T> StateFlow<T>.await(what: String, predicate: (T) -> Boolean): T =
    withTimeout(30_000) { first(predicate) }.also { checkNotNull(it) { what } }

/** The Android sample's non-UI layer (repository, view models, sync labels) on the JVM. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AppCoreTest {
    private lateinit var server: DemoServer
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    @BeforeAll
    fun start() {
        server = DemoServer.start()
    }

    @AfterAll
    fun stop() {
        scope.cancel()
        server.close()
    }

    @Test
    fun `sign in, capture with warnings, my cases go from 在手机上 to 已接收`() = runBlocking {
        val repository = XunchaRepository(newClient(), InMemorySessionStore())
        val signIn = SignInViewModel(repository, scope, server.url, "JUnit")
        signIn.signIn().join()
        assertEquals("请输入用户名和密码", signIn.state.value.errorZh)
        signIn.onUsername("inspector.changchunli")
        signIn.onPassword(server.password)
        signIn.signIn().join()
        assertNotNull(signIn.state.value.user, signIn.state.value.errorZh)

        val estates = EstateListViewModel(repository, scope)
        estates.reload().join()
        val changchunli = estates.state.value.estates.single { it.id == "changchunli" }

        val capture = CaptureViewModel(repository, scope)
        assertEquals(listOf("行为类（先劝阻）", "设施类", "服务投诉"), capture.pickerGroups.map { it.first })
        capture.selectEstate(changchunli)
        capture.selectCategory(Category.STREET_LIGHT)
        // A poor fix outside the estate: both warnings, neither blocks saving.
        capture.onLocation(GpsFix(lat = 39.0980, lon = 117.2120, accuracyM = 120.0, provider = "network"))
        capture.refreshPreview().join()
        val warned = capture.state.value
        assertEquals("±120 米", warned.accuracyZh)
        assertTrue(warned.warnings.any { it is CaptureWarning.LowGpsAccuracy }, "${warned.warnings}")
        assertTrue(warned.warnings.any { it is CaptureWarning.OutsideEstate }, "${warned.warnings}")
        assertNotNull(warned.routing)
        assertTrue(!warned.canSave, "no photo yet")

        capture.onLocation(CHANGCHUNLI)
        capture.addPhoto(testJpeg())
        capture.onDescription("路灯不亮")
        capture.save().join()
        val caseId = capture.state.value.savedCaseId ?: error("not saved: ${capture.state.value.errorZh}")

        val sync = SyncController(repository)
        val cases = MyCasesViewModel(repository, sync, scope)
        cases.reload().join()
        val row = cases.state.value.rows.single { it.item.case.id == caseId }
        assertEquals("在手机上", row.label.textZh)

        assertTrue(sync.syncNow().isSuccess, sync.state.value.errorZh)
        assertEquals("同步完成", sync.state.value.textZh)
        val synced = cases.state.await("row synced") { s ->
            s.rows.any { it.item.case.id == caseId && it.item.unsyncedChanges == 0u }
        }
        assertEquals("已接收", synced.rows.single { it.item.case.id == caseId }.label.textZh)

        val detail = CaseDetailViewModel(repository, scope, caseId)
        detail.reload().join()
        assertEquals(CaseStatus.REPORTED, detail.state.value.detail?.case?.status)
    }
}
