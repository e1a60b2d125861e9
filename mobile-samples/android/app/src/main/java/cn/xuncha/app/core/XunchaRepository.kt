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
import cn.xuncha.ffi.SyncListener
import cn.xuncha.ffi.SyncReport
import cn.xuncha.ffi.UserInfo
import cn.xuncha.ffi.XunchaClient
import cn.xuncha.ffi.catalog
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.withContext

/**
 * The app's only door to the Rust core. Every blocking call (SQLite, photo re-encoding) runs on
 * [io], never on the UI thread; writes announce themselves on [changes] so lists reload.
 * Plain Kotlin (no Android imports): compiled and tested on the JVM by bindings/kotlin.
 */
class XunchaRepository(
    private val client: XunchaClient,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val changed = MutableSharedFlow<Unit>(extraBufferCapacity = 1)

    /** Emits after every local write and every sync. */
    val changes: SharedFlow<Unit> = changed.asSharedFlow()

    /** The category picker's entries, in catalog order. Pure data, no I/O. */
    val categories: List<CategoryInfo> by lazy { catalog() }

    fun currentUser(): UserInfo? = client.currentUser()

    suspend fun enrol(serverUrl: String, username: String, password: String, deviceName: String): UserInfo =
        client.enrol(serverUrl, username, password, deviceName).also { changed.tryEmit(Unit) }

    suspend fun signOut() = withContext(io) { client.signOut() }.also { changed.tryEmit(Unit) }

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

    /** Pushes the outbox, uploads photos, pulls changes. Safe to cancel and to run again. */
    suspend fun sync(listener: SyncListener?): SyncReport =
        try {
            client.sync(listener)
        } finally {
            changed.tryEmit(Unit)
        }
}
