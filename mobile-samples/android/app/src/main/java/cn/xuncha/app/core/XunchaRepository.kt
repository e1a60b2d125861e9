package cn.xuncha.app.core

import cn.xuncha.ffi.ActionDraft
import cn.xuncha.ffi.CaseDetail
import cn.xuncha.ffi.CaseDraft
import cn.xuncha.ffi.CaseFilter
import cn.xuncha.ffi.CasePage
import cn.xuncha.ffi.Captured
import cn.xuncha.ffi.Case
import cn.xuncha.ffi.CaptureWarning
import cn.xuncha.ffi.Category
import cn.xuncha.ffi.CategoryInfo
import cn.xuncha.ffi.Estate
import cn.xuncha.ffi.OrgUnit
import cn.xuncha.ffi.OutboxCounts
import cn.xuncha.ffi.RoutingPreview
import cn.xuncha.ffi.SignOutOutcome
import cn.xuncha.ffi.SyncListener
import cn.xuncha.ffi.SyncReport
import cn.xuncha.ffi.UserInfo
import cn.xuncha.ffi.XunchaClient
import cn.xuncha.ffi.XunchaException
import cn.xuncha.ffi.catalog
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext

/**
 * The app's only door to the Rust core. Every blocking call (SQLite, photo re-encoding, the
 * session store) runs on [io], never on the UI thread; writes announce themselves on [changes]
 * so lists reload. The signed-in session lives in [sessions] (the Keystore on Android): saved at
 * sign-in, handed back to the core by [restoreSession] at every process start, forgotten at
 * sign-out or when the server says the device is revoked.
 * Plain Kotlin (no Android imports): compiled and tested on the JVM by bindings/kotlin.
 */
class XunchaRepository(
    private val client: XunchaClient,
    private val sessions: SessionStore,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val changed = MutableSharedFlow<Unit>(extraBufferCapacity = 1)
    private val sessionGate = Mutex()
    private var restored = false

    /** The device id of the session the core holds now (guarded by [sessionGate]). */
    private var deviceId: String? = null
    private val signedInUser = MutableStateFlow<UserInfo?>(null)

    /** Emits after every local write and every sync. */
    val changes: SharedFlow<Unit> = changed.asSharedFlow()

    /**
     * Who is signed in. Goes to null at sign-out and as soon as a sync finds the device revoked,
     * so the UI returns to the sign-in screen at once.
     */
    val user: StateFlow<UserInfo?> = signedInUser.asStateFlow()

    /** The category picker's entries, in catalog order. Pure data, no I/O. */
    val categories: List<CategoryInfo> by lazy { catalog() }

    fun currentUser(): UserInfo? = client.currentUser()

    /**
     * Signs the core back in with the stored session, once per process: the app's start and the
     * background sync worker both call it before anything that needs a user. A stored session
     * the core refuses (malformed) is deleted. Returns who is signed in, or null.
     */
    suspend fun restoreSession(): UserInfo? = sessionGate.withLock {
        if (!restored) {
            withContext(io) {
                val stored = try {
                    sessions.load()
                } catch (e: SessionStoreException) {
                    sessions.clear()
                    null
                }
                if (stored != null && client.currentUser() == null) {
                    try {
                        client.resume(stored)
                        deviceId = stored.deviceId
                    } catch (e: XunchaException) {
                        sessions.clear()
                    }
                }
            }
            restored = true
        }
        client.currentUser().also { signedInUser.value = it }
    }

    /**
     * Signs in and binds this device, then keeps the session in [sessions]. If it cannot be
     * kept, the core is signed out again and [SessionStoreException] is thrown: a sign-in that
     * would not survive a restart (no background sync) is reported, not half-done.
     */
    suspend fun enrol(serverUrl: String, username: String, password: String, deviceName: String): UserInfo =
        sessionGate.withLock {
            val session = client.enrol(serverUrl, username, password, deviceName)
            try {
                withContext(io) { sessions.save(session) }
            } catch (e: SessionStoreException) {
                // Revokes the device again too: nothing on the phone could ever use it.
                client.signOut()
                throw e
            }
            restored = true
            deviceId = session.deviceId
            signedInUser.value = session.user
            session.user
        }.also { changed.tryEmit(Unit) }

    /**
     * What is still on the phone only: unanswered events (pending or being sent) and photos not yet
     * uploaded. Shown before sign-out ("还有 N 条未同步记录"): they stay on the phone after it
     * and wait for their author: a sync pushes only the signed-in user's own records.
     */
    suspend fun unsentChanges(): UnsentChanges = withContext(io) {
        val counts = client.outboxCounts()
        UnsentChanges(events = (counts.pending + counts.inFlight).toInt(), photos = counts.photosPending.toInt())
    }

    /**
     * Signs out: the core asks the server to revoke this device (best effort) and forgets the
     * session; the stored session is deleted either way. [SignOutOutcome.ForgottenLocallyOnly]
     * means the server was not reached and the device stays valid there until an admin revokes
     * it: tell the user. Cases and unsent events stay on the phone.
     */
    suspend fun signOut(): SignOutOutcome = sessionGate.withLock { forgetSession() }.also { changed.tryEmit(Unit) }

    /** Caller holds [sessionGate]. */
    private suspend fun forgetSession(): SignOutOutcome {
        signedInUser.value = null
        deviceId = null
        val outcome = client.signOut()
        withContext(io) { sessions.clear() }
        return outcome
    }

    suspend fun estates(): List<Estate> = withContext(io) { client.estates() }

    suspend fun units(): List<OrgUnit> = withContext(io) { client.units() }

    suspend fun previewRouting(category: Category, estateId: String): RoutingPreview =
        withContext(io) { client.previewRouting(category, estateId) }

    suspend fun checkDraft(draft: CaseDraft): List<CaptureWarning> = withContext(io) { client.checkDraft(draft) }

    suspend fun capture(draft: CaseDraft): Captured =
        withContext(io) { client.capture(draft) }.also { changed.tryEmit(Unit) }

    suspend fun act(caseId: String, draft: ActionDraft): Case =
        withContext(io) { client.act(caseId, draft) }.also { changed.tryEmit(Unit) }

    suspend fun listCases(filter: CaseFilter, pageSize: Int, pageToken: String?): CasePage =
        withContext(io) { client.listCases(filter, pageSize.toUInt(), pageToken) }

    suspend fun caseDetail(caseId: String): CaseDetail = withContext(io) { client.caseDetail(caseId) }

    suspend fun outboxCounts(): OutboxCounts = withContext(io) { client.outboxCounts() }

    /** Puts a photo the server refused back in the upload queue (see `retryRefusedPhoto`). */
    suspend fun retryRefusedPhoto(sha256: String): Boolean =
        withContext(io) { client.retryRefusedPhoto(sha256) }.also { changed.tryEmit(Unit) }

    /**
     * Pushes the outbox, uploads photos, pulls changes. Safe to cancel and to run again. When the
     * server refuses the device for good (revoked, unknown or reused refresh token) the stored session is
     * deleted: it will never work again, the user signs in anew; nothing captured is lost.
     */
    suspend fun sync(listener: SyncListener?): SyncReport {
        val syncedDevice = sessionGate.withLock { deviceId }
        return try {
            client.sync(listener)
        } catch (e: XunchaException.Unauthenticated) {
            if (e.code in DEAD_SESSION_CODES) {
                sessionGate.withLock {
                    // A run that started with an older session can fail after a new sign-in on this
                    // phone: only the session that failed is forgotten, never the one that replaced it.
                    if (deviceId == syncedDevice) forgetSession()
                }
            }
            throw e
        } finally {
            keepRotatedSession(syncedDevice)
            changed.tryEmit(Unit)
        }
    }

    /**
     * The server rotates the refresh token on every refresh: the one in the keystore is spent as
     * soon as a sync refreshed, and sending it again would revoke the device. So after every sync,
     * failed or not, the session the library holds now is written back when it changed.
     */
    private suspend fun keepRotatedSession(syncedDevice: String?) {
        sessionGate.withLock {
            val current = client.currentSession() ?: return
            if (current.deviceId != syncedDevice || deviceId != syncedDevice) return
            // A keystore failure here must not hide the sync's own outcome; the next sync tries again.
            withContext(io) {
                runCatching {
                    if (sessions.load()?.refreshToken?.expose() != current.refreshToken.expose()) sessions.save(current)
                }
            }
        }
    }

    private companion object {
        /** The server's codes for a device session that no retry can revive. */
        val DEAD_SESSION_CODES = setOf("REVOKED", "REFRESH_INVALID", "REFRESH_TOKEN_REUSED")
    }
}

/** What only this phone holds, for the warning before sign-out. */
data class UnsentChanges(val events: Int, val photos: Int) {
    val isEmpty: Boolean get() = events == 0 && photos == 0

    /** e.g. `还有 2 条未同步记录、1 张未上传照片`, or null when everything is on the server. */
    val warningZh: String?
        get() = when {
            isEmpty -> null
            photos == 0 -> "还有 $events 条未同步记录"
            events == 0 -> "还有 $photos 张未上传照片"
            else -> "还有 $events 条未同步记录、$photos 张未上传照片"
        }
}
