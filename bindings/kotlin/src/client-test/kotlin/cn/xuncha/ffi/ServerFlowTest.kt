package cn.xuncha.ffi

import cn.xuncha.app.core.HttpUrlConnectionTransport
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import java.io.File
import java.nio.file.Files
import java.util.Collections

/** Points inside the demo estates (WGS-84). */
val CHANGCHUNLI = GpsFix(lat = 39.1135, lon = 117.1930, accuracyM = 8.0, provider = "gps")

fun testJpeg(): String {
    val path = System.getProperty("xuncha.test.jpeg") ?: error("xuncha.test.jpeg not set")
    check(File(path).length() > 0) { "test JPEG missing: $path" }
    return path
}

/** Every file under [dir] whose bytes contain [needle]. */
fun filesContaining(dir: File, needle: String): List<File> {
    val wanted = needle.toByteArray()
    return dir.walkTopDown().filter { it.isFile }.filter { file ->
        val bytes = file.readBytes()
        (0..bytes.size - wanted.size).any { start -> wanted.indices.all { bytes[start + it] == wanted[it] } }
    }.toList()
}

/** A loopback URL nobody listens on: connecting is refused at once. */
fun closedPortUrl(): String {
    val port = java.net.ServerSocket(0).use { it.localPort }
    return "http://127.0.0.1:$port"
}

/** A phone: its own database, the app's transport over `HttpURLConnection` (as on Android). */
fun newClient(transport: HttpTransport = HttpUrlConnectionTransport()): XunchaClient {
    val dir = Files.createTempDirectory("xuncha-phone-").toFile()
    return XunchaClient(File(dir, "xuncha.db").path, transport)
}

/**
 * The generated Kotlin against the real library and the real server: an inspector captures a case
 * with a real JPEG offline, previews the routing, syncs; the street office (a second client
 * object, as on its own phone) pulls, dispatches and syncs; the inspector sees 已派遣 after the
 * next sync. Bad calls surface as the right typed exceptions.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ServerFlowTest {
    private lateinit var server: DemoServer

    @BeforeAll
    fun start() {
        server = DemoServer.start()
    }

    @AfterAll
    fun stop() {
        server.close()
    }

    @Test
    fun `inspector reports, street office dispatches, inspector sees the new state`() = runBlocking {
        val inspector = newClient()
        val user = inspector.enrol(server.url, "inspector.changchunli", server.password, "JUnit 巡查员").user
        assertEquals(Role.INSPECTOR, user.role)
        assertEquals(user, inspector.currentUser())

        // Routing preview, offline, with the same rules the server applies.
        val routing = inspector.previewRouting(Category.STREET_LIGHT, "changchunli")
        assertEquals(UnitType.CITY_MANAGEMENT, routing.owner.unitType)
        assertTrue(routing.legalBasis.contains("三(一)"), routing.legalBasis)

        val captured = inspector.capture(
            CaseDraft(
                category = Category.STREET_LIGHT,
                estateId = "changchunli",
                building = "3号楼",
                description = "3号楼东侧路灯不亮",
                gps = CHANGCHUNLI,
                photoPaths = listOf(testJpeg()),
            ),
        )
        val caseId = captured.case.id
        assertEquals(CaseStatus.REPORTED, captured.case.status)
        assertEquals(1, captured.case.photos.size)
        val before = inspector.listCases(CaseFilter(), 50u, null).items.single { it.case.id == caseId }
        assertEquals(1u, before.unsyncedChanges)
        assertEquals(1u, before.photosTotal)
        assertEquals(0u, before.photosUploaded)
        assertNull(before.number, "no case number before the server has the case")

        val phases = Collections.synchronizedList(mutableListOf<SyncPhase>())
        val report = inspector.sync(object : SyncListener {
            override fun onProgress(progress: SyncProgress) {
                phases.add(progress.phase)
            }
        })
        assertEquals(1u, report.eventsAccepted)
        assertEquals(0u, report.eventsRejected)
        assertEquals(1u, report.photosUploaded)
        assertTrue(phases.containsAll(listOf(SyncPhase.PUSH_EVENTS, SyncPhase.UPLOAD_PHOTOS, SyncPhase.PULL)), "$phases")
        val synced = inspector.listCases(CaseFilter(), 50u, null).items.single { it.case.id == caseId }
        assertEquals(0u, synced.unsyncedChanges)
        assertEquals(1u, synced.photosUploaded)
        // The server numbered the case at ingest (和平-YYYYMMDD-NNNN; the demo server is shared by the tests); the pull delivered it.
        val number = synced.number
        assertTrue(number != null && Regex("和平-\\d{8}-\\d{4}").matches(number), "$number")
        assertEquals(number, inspector.caseDetail(caseId).number)

        // The street office on its own device.
        val street = newClient()
        street.enrol(server.url, "street.nanyingmen", server.password, "JUnit 街道")
        street.sync(null)
        val seen = street.caseDetail(caseId)
        assertEquals(CaseStatus.REPORTED, seen.case.status)
        assertEquals(number, seen.number)
        assertTrue(ActionKind.DISPATCH in seen.allowedActions, "${seen.allowedActions}")
        val dispatched = street.act(
            caseId,
            ActionDraft(CaseAction.Dispatch(routing.owner.id), "请尽快修复", null, emptyList(), PhotoKind.BEFORE),
        )
        assertEquals(CaseStatus.DISPATCHED, dispatched.status)
        val streetReport = street.sync(null)
        assertEquals(1u, streetReport.eventsAccepted)

        // Before its next sync the inspector's phone still shows REPORTED; after it, DISPATCHED.
        assertEquals(CaseStatus.REPORTED, inspector.caseDetail(caseId).case.status)
        inspector.sync(null)
        val after = inspector.caseDetail(caseId)
        assertEquals(CaseStatus.DISPATCHED, after.case.status)
        assertEquals(routing.owner.id, after.case.assignedUnit)
        assertEquals(listOf(ActionKind.REPORT, ActionKind.DISPATCH), after.timeline.map { it.action.kind })
        assertTrue(after.timeline.all { it.syncState == EventSyncState.SYNCED && it.serverTime != null })
    }

    @Test
    fun `the session survives a restart through resume and no file holds the refresh token`() = runBlocking {
        val dir = Files.createTempDirectory("xuncha-phone-").toFile()
        val db = File(dir, "xuncha.db").path
        val first = XunchaClient(db, HttpUrlConnectionTransport())
        val session = first.enrol(server.url, "inspector.changchunli", server.password, "JUnit 重启")
        val token = session.refreshToken.expose()
        assertTrue(token.length >= 16, "a real token")
        // Printing the session (a data class) never shows the token.
        assertFalse(session.toString().contains(token), session.toString())
        assertTrue(session.toString().contains("RefreshToken(***)"), session.toString())
        first.capture(CaseDraft(Category.GARBAGE, "changchunli", gps = CHANGCHUNLI, photoPaths = listOf(testJpeg())))
        first.close()

        // A plain-text session file as older builds wrote it: deleted on open, signed out.
        val legacy = File(dir, "xuncha.session.json")
        legacy.writeText("""{"refresh_token":"$token"}""")
        val second = XunchaClient(db, HttpUrlConnectionTransport())
        assertFalse(legacy.exists(), "legacy session file not deleted")
        assertNull(second.currentUser())
        assertEquals("NOT_SIGNED_IN", assertThrows<XunchaException.Unauthenticated> { runBlocking { second.sync(null) } }.code)

        // What the app reads back from its keystore: a fresh record rebuilt from stored strings.
        second.resume(
            DeviceSession(session.serverUrl, session.deviceId, RefreshToken(token), session.user),
        )
        assertEquals(session.user, second.currentUser())
        val report = second.sync(null)
        assertEquals(1u, report.eventsAccepted)
        assertEquals(1u, report.photosUploaded)
        assertEquals(0u, second.outboxCounts().pending)

        assertEquals(emptyList<File>(), filesContaining(dir, token), "files holding the refresh token")
        second.close()
    }

    @Test
    fun `a garbage refresh token is Unauthenticated on the next sync`() = runBlocking {
        val session = newClient().enrol(server.url, "inspector.changchunli", server.password, "JUnit 伪造")
        val phone = newClient()
        phone.resume(session.copy(refreshToken = RefreshToken("xrt_not-a-token-the-server-gave")))
        val e = assertThrows<XunchaException.Unauthenticated> { runBlocking { phone.sync(null) } }
        assertEquals("REFRESH_INVALID", e.code)
        // An unknown device is refused the same way.
        phone.resume(session.copy(deviceId = "01900000-0000-7000-8000-000000000000"))
        assertEquals("REFRESH_INVALID", assertThrows<XunchaException.Unauthenticated> { runBlocking { phone.sync(null) } }.code)
    }

    @Test
    fun `a revoked device's session is Unauthenticated on the next sync`() = runBlocking {
        val session = newClient().enrol(server.url, "inspector.changchunli", server.password, "JUnit 丢失的手机")
        val phone = newClient()
        phone.resume(session)
        phone.sync(null)
        server.revokeDevice(session.deviceId)
        // The running app's access token stops working too.
        assertEquals("REVOKED", assertThrows<XunchaException.Unauthenticated> { runBlocking { phone.sync(null) } }.code)
        val restarted = newClient()
        restarted.resume(session)
        val e = assertThrows<XunchaException.Unauthenticated> { runBlocking { restarted.sync(null) } }
        assertEquals("REVOKED", e.code)
    }

    @Test
    fun `sign-out revokes the device on the server and keeps unsent records`(): Unit = runBlocking {
        val phone = newClient()
        val session = phone.enrol(server.url, "inspector.changchunli", server.password, "JUnit 退出")
        phone.capture(CaseDraft(Category.GARBAGE, "changchunli", gps = CHANGCHUNLI, photoPaths = listOf(testJpeg())))
        assertEquals(1u, phone.outboxCounts().pending)

        assertEquals(SignOutOutcome.Revoked, phone.signOut())

        assertNull(phone.currentUser())
        assertEquals(1u, phone.outboxCounts().pending, "sign-out never deletes unsent records")
        assertEquals(1u, phone.outboxCounts().photosPending)
        // The old session, restored anywhere, is refused by the server now.
        val restarted = newClient()
        restarted.resume(session)
        assertEquals("REVOKED", assertThrows<XunchaException.Unauthenticated> { runBlocking { restarted.sync(null) } }.code)
    }

    @Test
    fun `offline sign-out forgets the session and says the server was not told`(): Unit = runBlocking {
        val session = newClient().enrol(server.url, "inspector.changchunli", server.password, "JUnit 离线退出")
        val phone = newClient()
        phone.resume(session.copy(serverUrl = closedPortUrl()))

        val outcome = phone.signOut()

        assertTrue(outcome is SignOutOutcome.ForgottenLocallyOnly, "$outcome")
        assertEquals("NETWORK", (outcome as SignOutOutcome.ForgottenLocallyOnly).code)
        assertNull(phone.currentUser())
        // The server was not told: the session still works there until an admin revokes it.
        val still = newClient()
        still.resume(session)
        still.sync(null)
    }

    @Test
    fun `resume refuses a malformed session with InvalidInput`() = runBlocking {
        val session = newClient().enrol(server.url, "inspector.changchunli", server.password, "JUnit")
        val phone = newClient()
        assertEquals("INVALID_DEVICE_ID", assertThrows<XunchaException.InvalidInput> { phone.resume(session.copy(deviceId = "nope")) }.code)
        assertEquals("SYNC_CONFIG", assertThrows<XunchaException.InvalidInput> { phone.resume(session.copy(serverUrl = "not a url")) }.code)
        assertEquals("EMPTY_REFRESH_TOKEN", assertThrows<XunchaException.InvalidInput> { RefreshToken("") }.code)
        assertNull(phone.currentUser())
    }

    @Test
    fun `wrong password is a typed Unauthenticated exception`() = runBlocking {
        val e = assertThrows<XunchaException.Unauthenticated> {
            runBlocking { newClient().enrol(server.url, "inspector.changchunli", "not-the-password", "JUnit") }
        }
        assertTrue(e.code.isNotEmpty())
    }

    @Test
    fun `no server is a typed Network exception and nothing is lost`() = runBlocking {
        val phone = newClient()
        phone.enrol(server.url, "inspector.changchunli", server.password, "JUnit")
        phone.capture(CaseDraft(Category.GARBAGE, "changchunli", gps = CHANGCHUNLI, photoPaths = listOf(testJpeg())))
        // Point the stored session at a closed port by enrolling a second client there: refused.
        assertThrows<XunchaException.Network> {
            runBlocking { newClient().enrol("http://127.0.0.1:9", "x", "y", "z") }
        }
        assertEquals(1u, phone.outboxCounts().pending)
    }

    @Test
    fun `inspector may not dispatch, the workflow says why`() = runBlocking {
        val phone = newClient()
        phone.enrol(server.url, "inspector.changchunli", server.password, "JUnit")
        val case = phone.capture(
            CaseDraft(Category.STREET_LIGHT, "changchunli", gps = CHANGCHUNLI, photoPaths = listOf(testJpeg())),
        ).case
        val e = assertThrows<XunchaException.NotAllowed> {
            phone.act(case.id, ActionDraft(CaseAction.Dispatch("heping.city_management"), null, null, emptyList(), PhotoKind.BEFORE))
        }
        assertEquals("ROLE_NOT_ALLOWED", e.code)
    }

    @Test
    fun `a file that is not a photo is InvalidInput and nothing is saved`() = runBlocking {
        val phone = newClient()
        phone.enrol(server.url, "inspector.changchunli", server.password, "JUnit")
        val notJpeg = File.createTempFile("not-a-photo", ".jpg").apply { writeText("这不是照片") }
        val e = assertThrows<XunchaException.InvalidInput> {
            phone.capture(CaseDraft(Category.GARBAGE, "changchunli", gps = CHANGCHUNLI, photoPaths = listOf(notJpeg.path)))
        }
        assertTrue(e.code.isNotEmpty())
        assertEquals(0, phone.listCases(CaseFilter(), 50u, null).items.size)
    }

    @Test
    fun `capture without signing in is Unauthenticated`() {
        val e = assertThrows<XunchaException.Unauthenticated> {
            newClient().capture(CaseDraft(Category.GARBAGE, "changchunli", photoPaths = listOf(testJpeg())))
        }
        assertEquals("NOT_SIGNED_IN", e.code)
        assertNotNull(e.message)
    }

    @Test
    fun `photo provenance limits start at the core's defaults and the app may set them`() {
        val phone = newClient()
        assertEquals(ProvenanceLimits(30u, 200.0), phone.provenanceLimits())
        phone.setProvenanceLimits(ProvenanceLimits(120u, 500.0))
        assertEquals(ProvenanceLimits(120u, 500.0), phone.provenanceLimits())
        val e = assertThrows<XunchaException.InvalidInput> { phone.setProvenanceLimits(ProvenanceLimits(10u, -1.0)) }
        assertEquals("INVALID_PROVENANCE_LIMITS", e.code)
        assertEquals(ProvenanceLimits(120u, 500.0), phone.provenanceLimits())
    }

    @Test
    fun `unknown case id is InvalidInput, unknown case is NotFound`() {
        val phone = newClient()
        assertEquals("INVALID_CASE_ID", assertThrows<XunchaException.InvalidInput> { phone.caseDetail("nope") }.code)
        assertThrows<XunchaException.NotFound> { phone.caseDetail("01900000-0000-7000-8000-000000000000") }
    }
}
