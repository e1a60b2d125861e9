package cn.xuncha.ffi

import cn.xuncha.app.core.HttpUrlConnectionTransport
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import java.io.File

/**
 * The library's sync over the app's transport ([HttpUrlConnectionTransport], the class the Android
 * sample ships) when the network misbehaves, through [FaultProxy] in front of the real server:
 * an answer lost after the server committed, a photo part cut midway by a stalled link, 503 with
 * `Retry-After`, and TLS with a certificate only the app's own trust store knows. Each time the
 * retry rules of the core apply unchanged, and nothing is lost or stored twice: a second phone
 * (the street office, straight to the server) sees every case exactly once.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TransportFaultTest {
    private lateinit var server: DemoServer

    @BeforeAll
    fun start() {
        server = DemoServer.start()
    }

    @AfterAll
    fun stop() {
        server.close()
    }

    private fun draft(note: String) = CaseDraft(
        Category.GARBAGE, "changchunli", description = note, gps = CHANGCHUNLI, photoPaths = listOf(testJpeg()),
    )

    /** The street office's view, straight from the server: how many times each case id is there. */
    private suspend fun serverCaseCounts(ids: List<String>): Map<String, Int> {
        val street = newClient()
        street.enrol(server.url, "street.nanyingmen", server.password, "JUnit 街道核对")
        street.sync(null)
        val items = street.listCases(CaseFilter(), 500u, null).items
        return ids.associateWith { id -> items.count { it.case.id == id } }
    }

    @Test
    fun `a push answer lost after the server stored it is sent again and stored once`() = runBlocking {
        FaultProxy(server.url).use { proxy ->
            val phone = newClient()
            phone.enrol(proxy.url, "inspector.changchunli", server.password, "JUnit 丢失应答")
            val ids = listOf(phone.capture(draft("丢失应答 1")).case.id, phone.capture(draft("丢失应答 2")).case.id)
            proxy.dropPushAnswers.set(1)

            val report = phone.sync(null)

            assertEquals(1, proxy.droppedPushAnswers.get(), "the fault happened")
            assertEquals(2, proxy.pushesForwarded.get(), "sent again after the lost answer")
            assertEquals(2u, report.eventsAccepted, "applied, then DUPLICATE on the replay")
            assertEquals(0u, phone.outboxCounts().pending + phone.outboxCounts().inFlight)
            assertEquals(ids.associateWith { 1 }, serverCaseCounts(ids))
            for (id in ids) {
                assertEquals(listOf(ActionKind.REPORT), phone.caseDetail(id).timeline.map { it.action.kind })
            }
        }
    }

    @Test
    fun `a photo part cut midway times out and resumes from what the server kept`(): Unit = runBlocking {
        // A server of its own: the photos are addressed by content, and the other tests upload
        // the same test JPEG, which this server must not hold yet.
        DemoServer.start().use { server -> FaultProxy(server.url).use { proxy ->
            // The app's read timeout: a stalled link gives up after 1.5 s, not the library's 60 s.
            val phone = newClient(HttpUrlConnectionTransport(readTimeoutMs = 1_500))
            phone.enrol(proxy.url, "inspector.changchunli", server.password, "JUnit 照片中断")
            val case = phone.capture(draft("照片中断")).case
            val sha = case.photos.single().sha256
            proxy.stallPhotoParts.set(1)

            val report = phone.sync(null)

            assertEquals(1, proxy.stalledPhotoParts.get(), "the fault happened")
            assertEquals(1u, report.photosUploaded)
            assertEquals(0u, phone.outboxCounts().photosPending)
            val photo = phone.caseDetail(case.id).photos.single()
            assertEquals(PhotoUploadState.UPLOADED, photo.uploadState)
            val (status, body) = server.adminGet("/api/v1/photos/$sha/status")
            assertEquals(200, status, body)
            assertTrue(body.contains("\"complete\":true"), body)
            assertTrue(body.contains("\"received\":${File(photo.path!!).length()}"), "$body vs ${File(photo.path!!).length()} bytes")
            val street = newClient()
            street.enrol(server.url, "street.nanyingmen", server.password, "JUnit 街道核对")
            street.sync(null)
            assertEquals(1, street.listCases(CaseFilter(), 500u, null).items.count { it.case.id == case.id })
        } }
    }

    @Test
    fun `503 with Retry-After is waited out and the batch is stored once`() = runBlocking {
        FaultProxy(server.url).use { proxy ->
            val phone = newClient()
            phone.enrol(proxy.url, "inspector.changchunli", server.password, "JUnit 维护")
            val id = phone.capture(draft("服务器维护")).case.id
            proxy.retryAfterS = 1
            proxy.unavailablePushes.set(2)

            val started = System.nanoTime()
            val report = phone.sync(null)
            val tookMs = (System.nanoTime() - started) / 1_000_000

            assertEquals(2, proxy.unavailableAnswered.get(), "the fault happened twice")
            assertEquals(1, proxy.pushesForwarded.get())
            assertTrue(tookMs >= 2_000, "waited Retry-After twice: $tookMs ms")
            assertEquals(1u, report.eventsAccepted)
            assertEquals(mapOf(id to 1), serverCaseCounts(listOf(id)))
        }
    }

    @Test
    fun `TLS works with a certificate the app trusts through its own trust store only`() = runBlocking {
        val certificate = TestCertificate.generate()
        FaultProxy(server.url, tls = certificate.server).use { proxy ->
            assertTrue(proxy.url.startsWith("https://"))
            // The JVM's default trust store does not know the test certificate: refused, typed.
            val untrusting = newClient()
            val refused = assertThrows<XunchaException.Network> {
                runBlocking { untrusting.enrol(proxy.url, "inspector.changchunli", server.password, "JUnit TLS") }
            }
            assertTrue(refused.detail.contains("TLS"), refused.detail)
            assertEquals(null, untrusting.currentUser())

            // The app's transport with its own trust store: the whole flow works over TLS.
            val phone = newClient(HttpUrlConnectionTransport(sslSocketFactory = certificate.clientTrusting))
            phone.enrol(proxy.url, "inspector.changchunli", server.password, "JUnit TLS")
            val id = phone.capture(draft("TLS")).case.id
            val report = phone.sync(null)
            assertEquals(1u, report.eventsAccepted)
            assertEquals(1u, report.photosUploaded)
            assertEquals(mapOf(id to 1), serverCaseCounts(listOf(id)))
        }
    }
}
