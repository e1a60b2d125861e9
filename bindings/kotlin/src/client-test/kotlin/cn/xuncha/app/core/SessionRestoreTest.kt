package cn.xuncha.app.core

import cn.xuncha.ffi.CHANGCHUNLI
import cn.xuncha.ffi.CaseDraft
import cn.xuncha.ffi.Category
import cn.xuncha.ffi.DemoServer
import cn.xuncha.ffi.DeviceSession
import cn.xuncha.ffi.SignOutOutcome
import cn.xuncha.ffi.SyncListener
import cn.xuncha.ffi.SyncProgress
import cn.xuncha.ffi.XunchaClient
import cn.xuncha.ffi.XunchaException
import cn.xuncha.ffi.filesContaining
import cn.xuncha.ffi.testJpeg
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import java.io.File
import java.nio.file.Files

/**
 * The sample app's sign-in / restore logic (repository + [SessionStore]) on the JVM, against the
 * real library and server. [InMemorySessionStore] stands in for the Android Keystore store,
 * which needs a phone; both go through [SessionCodec].
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SessionRestoreTest {
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

    /** One phone's app folder: every "process start" opens a new client on the same database. */
    private class Phone {
        val dir: File = Files.createTempDirectory("xuncha-app-").toFile()
        fun start(): XunchaClient = XunchaClient(File(dir, "xuncha.db").path, HttpUrlConnectionTransport())
    }

    private suspend fun signIn(repository: XunchaRepository, username: String = "inspector.changchunli") {
        val vm = SignInViewModel(repository, scope, server.url, "JUnit")
        withTimeout(30_000) { vm.state.first { !it.restoring } }
        vm.onUsername(username)
        vm.onPassword(server.password)
        vm.signIn().join()
        assertNotNull(vm.state.value.user, vm.state.value.errorZh)
    }

    @Test
    fun `the codec round-trips a session and refuses damaged bytes`(): Unit = runBlocking {
        val session = XunchaClient(File(Phone().dir, "x.db").path, HttpUrlConnectionTransport())
            .enrol(server.url, "inspector.changchunli", server.password, "JUnit codec")
        val bytes = SessionCodec.encode(session)
        val decoded = SessionCodec.decode(bytes)
        assertEquals(session, decoded)
        assertEquals(session.refreshToken.expose(), decoded.refreshToken.expose())
        assertTrue(!decoded.toString().contains(session.refreshToken.expose()), decoded.toString())
        assertThrows<SessionStoreException> { SessionCodec.decode(bytes.copyOf(bytes.size / 2)) }
        assertThrows<SessionStoreException> { SessionCodec.decode(byteArrayOf(9) + bytes.copyOfRange(1, bytes.size)) }
    }

    @Test
    fun `sign in, restart, restore from the store, background sync works`(): Unit = runBlocking {
        val phone = Phone()
        val store = InMemorySessionStore()
        val first = XunchaRepository(phone.start(), store)
        assertNull(first.restoreSession(), "nothing stored yet")
        signIn(first)
        val stored = checkNotNull(store.load())
        first.capture(CaseDraft(Category.GARBAGE, "changchunli", gps = CHANGCHUNLI, photoPaths = listOf(testJpeg())))

        // The process dies; WorkManager starts it again and the worker restores before syncing.
        val restarted = XunchaRepository(phone.start(), store)
        assertNull(restarted.currentUser(), "the library itself keeps nothing")
        assertEquals(stored.user, restarted.restoreSession())
        val report = restarted.sync(null)
        assertEquals(1u, report.eventsAccepted)
        assertEquals(1u, report.photosUploaded)
        assertEquals(emptyList<File>(), filesContaining(phone.dir, stored.refreshToken.expose()))

        // The sign-in screen of the restarted app skips straight past itself.
        val vm = SignInViewModel(restarted, scope, server.url, "JUnit")
        assertEquals(stored.user, withTimeout(30_000) { vm.state.first { !it.restoring } }.user)
    }

    @Test
    fun `nothing stored means signed out, and sign-out empties the store`(): Unit = runBlocking {
        val phone = Phone()
        val store = InMemorySessionStore()
        val repository = XunchaRepository(phone.start(), store)
        assertNull(repository.restoreSession())
        assertEquals("NOT_SIGNED_IN", assertThrows<XunchaException.Unauthenticated> { runBlocking { repository.sync(null) } }.code)

        signIn(repository)
        assertNotNull(store.load())
        assertEquals(SignOutOutcome.Revoked, repository.signOut())
        assertNull(store.load())
        assertNull(repository.currentUser())
        assertNull(repository.user.value)
        assertNull(XunchaRepository(phone.start(), store).restoreSession())
    }

    @Test
    fun `sign-out with unsent records warns first and keeps them`(): Unit = runBlocking {
        val phone = Phone()
        val store = InMemorySessionStore()
        val repository = XunchaRepository(phone.start(), store)
        val vm = SignInViewModel(repository, scope, server.url, "JUnit")
        withTimeout(30_000) { vm.state.first { !it.restoring } }
        vm.onUsername("inspector.changchunli")
        vm.onPassword(server.password)
        vm.signIn().join()
        repository.capture(CaseDraft(Category.GARBAGE, "changchunli", gps = CHANGCHUNLI, photoPaths = listOf(testJpeg())))
        assertEquals(UnsentChanges(events = 1, photos = 1), repository.unsentChanges())

        vm.requestSignOut().join()
        val warning = checkNotNull(vm.state.value.signOutWarningZh)
        assertTrue(warning.startsWith("还有 1 条未同步记录、1 张未上传照片"), warning)
        assertNotNull(repository.currentUser(), "nothing happens before the user confirms")
        vm.cancelSignOut()
        assertNull(vm.state.value.signOutWarningZh)

        vm.requestSignOut().join()
        vm.confirmSignOut().join()
        assertNull(vm.state.value.user)
        assertNull(vm.state.value.noticeZh, "the server revoked the device: nothing to add")
        assertNull(store.load())
        assertEquals(UnsentChanges(events = 1, photos = 1), repository.unsentChanges())
    }

    @Test
    fun `a revoked device found by a sync sends the UI back to sign-in at once`(): Unit = runBlocking {
        val phone = Phone()
        val store = InMemorySessionStore()
        val repository = XunchaRepository(phone.start(), store)
        val vm = SignInViewModel(repository, scope, server.url, "JUnit")
        withTimeout(30_000) { vm.state.first { !it.restoring } }
        vm.onUsername("inspector.changchunli")
        vm.onPassword(server.password)
        vm.signIn().join()
        assertNotNull(vm.state.value.user)
        server.revokeDevice(checkNotNull(store.load()).deviceId)

        // The background worker's sync, not the screen's, finds it.
        assertThrows<XunchaException.Unauthenticated> { runBlocking { repository.sync(null) } }

        assertNull(repository.user.value)
        withTimeout(30_000) { vm.state.first { it.user == null } }
    }

    @Test
    fun `a stale sync failing after a fresh sign-in keeps the new session`(): Unit = runBlocking {
        val phone = Phone()
        val store = InMemorySessionStore()
        val repository = XunchaRepository(phone.start(), store)
        signIn(repository)
        val old = checkNotNull(store.load())
        server.revokeDevice(old.deviceId)
        // While the old session's sync is running (its first progress callback), the user signs in
        // again on this phone; then the old run fails with REVOKED.
        var fresh: String? = null
        val listener = object : SyncListener {
            override fun onProgress(progress: SyncProgress) {
                if (fresh == null) {
                    fresh = runBlocking {
                        repository.enrol(server.url, "inspector.changchunli", server.password, "JUnit 新登录")
                        checkNotNull(store.load()).deviceId
                    }
                }
            }
        }
        val e = assertThrows<XunchaException.Unauthenticated> { runBlocking { repository.sync(listener) } }
        assertEquals("REVOKED", e.code)

        val kept = checkNotNull(store.load()) { "the new session was deleted by the old run" }
        assertEquals(checkNotNull(fresh), kept.deviceId)
        assertTrue(kept.deviceId != old.deviceId)
        assertNotNull(repository.currentUser())
        assertNotNull(repository.user.value)
        repository.sync(null)
    }

    @Test
    fun `a revoked device's stored session is deleted at the next sync`(): Unit = runBlocking {
        val phone = Phone()
        val store = InMemorySessionStore()
        signIn(XunchaRepository(phone.start(), store))
        val deviceId = checkNotNull(store.load()).deviceId
        server.revokeDevice(deviceId)

        val restarted = XunchaRepository(phone.start(), store)
        assertNotNull(restarted.restoreSession())
        val e = assertThrows<XunchaException.Unauthenticated> { runBlocking { restarted.sync(null) } }
        assertEquals("REVOKED", e.code)
        assertEquals("登录已失效，请重新登录", e.userMessageZh())
        assertNull(store.load(), "a dead session must not be resumed again")
        assertNull(restarted.currentUser())
    }

    @Test
    fun `a sign-in whose session cannot be kept is reported and undone`(): Unit = runBlocking {
        val failing = object : SessionStore {
            override fun load(): DeviceSession? = null
            override fun save(session: DeviceSession) = throw SessionStoreException("keystore unavailable")
            override fun clear() {}
        }
        val repository = XunchaRepository(Phone().start(), failing)
        val vm = SignInViewModel(repository, scope, server.url, "JUnit")
        withTimeout(30_000) { vm.state.first { !it.restoring } }
        vm.onUsername("inspector.changchunli")
        vm.onPassword(server.password)
        vm.signIn().join()
        assertEquals(SESSION_NOT_KEPT_ZH, vm.state.value.errorZh)
        assertNull(vm.state.value.user)
        assertNull(repository.currentUser(), "signed in only until the next restart would be a lie")
    }

    @Test
    fun `damaged stored bytes are dropped at restore`(): Unit = runBlocking {
        val damaged = object : SessionStore {
            var cleared = false
            override fun load(): DeviceSession? = SessionCodec.decode(byteArrayOf(1, 0))
            override fun save(session: DeviceSession) {}
            override fun clear() {
                cleared = true
            }
        }
        val repository = XunchaRepository(Phone().start(), damaged)
        assertNull(repository.restoreSession())
        assertTrue(damaged.cleared)
    }
}
