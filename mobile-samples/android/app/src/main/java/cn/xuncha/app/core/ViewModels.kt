package cn.xuncha.app.core

import cn.xuncha.ffi.ActionDraft
import cn.xuncha.ffi.ActionKind
import cn.xuncha.ffi.CaptureWarning
import cn.xuncha.ffi.CaseAction
import cn.xuncha.ffi.CaseDetail
import cn.xuncha.ffi.CaseDraft
import cn.xuncha.ffi.CaseFilter
import cn.xuncha.ffi.CaseListItem
import cn.xuncha.ffi.CaseStatus
import cn.xuncha.ffi.Category
import cn.xuncha.ffi.CategoryGroup
import cn.xuncha.ffi.CategoryInfo
import cn.xuncha.ffi.Estate
import cn.xuncha.ffi.GpsFix
import cn.xuncha.ffi.OrgUnit
import cn.xuncha.ffi.CasePhoto
import cn.xuncha.ffi.PhotoKind
import cn.xuncha.ffi.PhotoUploadState
import cn.xuncha.ffi.RoutingPreview
import cn.xuncha.ffi.SignOutOutcome
import cn.xuncha.ffi.UserInfo
import cn.xuncha.ffi.XunchaException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

// View models of the sample app as plain classes over a CoroutineScope (the Android layer passes
// `viewModelScope`), so they compile and run on the JVM without Android.

/** Runs [block], turning a core or session-store error into the Chinese message for the screen. */
private suspend fun <T> attempt(onError: (String) -> Unit, block: suspend () -> T): T? =
    try {
        block()
    } catch (e: XunchaException) {
        onError(e.userMessageZh())
        null
    } catch (e: SessionStoreException) {
        onError(SESSION_NOT_KEPT_ZH)
        null
    }

const val SESSION_NOT_KEPT_ZH = "无法在本机安全保存登录状态，请重试"

data class SignInState(
    val serverUrl: String,
    val username: String = "",
    val password: String = "",
    val busy: Boolean = false,
    val errorZh: String? = null,
    val user: UserInfo? = null,
    /** The stored session is being read back at start: show neither screen yet. */
    val restoring: Boolean = true,
    /** Sign-out asked for while things are unsent: show this and ask to confirm. */
    val signOutWarningZh: String? = null,
    /** After sign-out: what the user should know (e.g. the server was not told). */
    val noticeZh: String? = null,
)

const val SIGNED_OUT_LOCALLY_ZH = "已在本机退出登录，但未能通知服务器停用此设备（网络不可用）。如手机遗失，请联系管理员停用。"

class SignInViewModel(
    private val repository: XunchaRepository,
    private val scope: CoroutineScope,
    defaultServerUrl: String,
    private val deviceName: String,
) {
    private val mutable = MutableStateFlow(SignInState(serverUrl = defaultServerUrl, user = repository.currentUser()))
    val state: StateFlow<SignInState> = mutable.asStateFlow()

    init {
        scope.launch {
            val restored = repository.restoreSession()
            mutable.update { it.copy(restoring = false, user = restored ?: it.user) }
            // From here the repository says who is signed in: a revoked device found by any sync
            // (screen or background worker) sends the UI back to the sign-in screen at once.
            repository.user.collect { user -> mutable.update { it.copy(user = user) } }
        }
    }

    /**
     * The sign-out button. With nothing unsent it signs out at once; otherwise it only sets
     * [SignInState.signOutWarningZh] and waits for [confirmSignOut] or [cancelSignOut].
     */
    fun requestSignOut(): Job = scope.launch {
        val unsent = attempt({ msg -> mutable.update { it.copy(errorZh = msg) } }) { repository.unsentChanges() }
            ?: return@launch
        val warning = unsent.warningZh
        if (warning == null) {
            signOutNow()
        } else {
            mutable.update { it.copy(signOutWarningZh = "$warning。退出后这些记录仍留在本机，由下次在本机登录的账号上传。确定退出？") }
        }
    }

    fun confirmSignOut(): Job = scope.launch { signOutNow() }

    fun cancelSignOut() = mutable.update { it.copy(signOutWarningZh = null) }

    fun dismissNotice() = mutable.update { it.copy(noticeZh = null) }

    private suspend fun signOutNow() {
        mutable.update { it.copy(busy = true, signOutWarningZh = null) }
        val outcome = repository.signOut()
        val notice = if (outcome is SignOutOutcome.ForgottenLocallyOnly) SIGNED_OUT_LOCALLY_ZH else null
        mutable.update { it.copy(busy = false, user = null, noticeZh = notice) }
    }

    fun onServerUrl(value: String) = mutable.update { it.copy(serverUrl = value.trim()) }
    fun onUsername(value: String) = mutable.update { it.copy(username = value.trim()) }
    fun onPassword(value: String) = mutable.update { it.copy(password = value) }

    fun signIn(): Job = scope.launch {
        val s = mutable.value
        if (s.username.isEmpty() || s.password.isEmpty()) {
            mutable.update { it.copy(errorZh = "请输入用户名和密码") }
            return@launch
        }
        mutable.update { it.copy(busy = true, errorZh = null, noticeZh = null) }
        val user = attempt({ msg -> mutable.update { it.copy(errorZh = msg) } }) {
            repository.enrol(s.serverUrl, s.username, s.password, deviceName)
        }
        mutable.update { it.copy(busy = false, user = user ?: it.user, password = "") }
    }
}

data class EstateListState(
    val loading: Boolean = true,
    val estates: List<Estate> = emptyList(),
    val errorZh: String? = null,
)

class EstateListViewModel(private val repository: XunchaRepository, private val scope: CoroutineScope) {
    private val mutable = MutableStateFlow(EstateListState())
    val state: StateFlow<EstateListState> = mutable.asStateFlow()

    init {
        scope.launch { repository.changes.collect { reload() } }
    }

    fun reload(): Job = scope.launch {
        val estates = attempt({ msg -> mutable.update { it.copy(loading = false, errorZh = msg) } }) {
            repository.estates().filter { !it.exited }
        } ?: return@launch
        mutable.value = EstateListState(loading = false, estates = estates)
    }
}

/** Catalog entries grouped for the picker: behaviour, facilities, service. */
fun pickerGroups(entries: List<CategoryInfo>): List<Pair<String, List<CategoryInfo>>> =
    listOf(
        "行为类（先劝阻）" to CategoryGroup.BEHAVIOUR,
        "设施类" to CategoryGroup.FACILITY,
        "服务投诉" to CategoryGroup.SERVICE,
    ).map { (title, group) -> title to entries.filter { it.group == group } }
        .filter { it.second.isNotEmpty() }

data class CaptureState(
    val estate: Estate? = null,
    val category: CategoryInfo? = null,
    val building: String = "",
    val unitNo: String = "",
    val locationNote: String = "",
    val description: String = "",
    val gps: GpsFix? = null,
    val photoPaths: List<String> = emptyList(),
    val routing: RoutingPreview? = null,
    val warnings: List<CaptureWarning> = emptyList(),
    val saving: Boolean = false,
    val savedCaseId: String? = null,
    val errorZh: String? = null,
) {
    val canSave: Boolean get() = estate != null && category != null && photoPaths.isNotEmpty() && !saving

    /** GPS accuracy as shown under the map pin, e.g. `±8 米`. */
    val accuracyZh: String?
        get() = gps?.accuracyM?.let { "±${it.toInt()} 米" }

    val duplicates: List<CaptureWarning.PossibleDuplicates>
        get() = warnings.filterIsInstance<CaptureWarning.PossibleDuplicates>()

    /**
     * Photo provenance warnings of the saved case (F3: a photo taken long before, or far from
     * the fix). The screen shows them before leaving; the case is saved either way.
     */
    val photoWarnings: List<String>
        get() = warnings.mapNotNull {
            when (it) {
                is CaptureWarning.PhotoTakenEarlier -> it.messageZh
                is CaptureWarning.PhotoFarFromFix -> it.messageZh
                else -> null
            }
        }
}

class CaptureViewModel(private val repository: XunchaRepository, private val scope: CoroutineScope) {
    private val mutable = MutableStateFlow(CaptureState())
    val state: StateFlow<CaptureState> = mutable.asStateFlow()
    val pickerGroups: List<Pair<String, List<CategoryInfo>>> = pickerGroups(repository.categories)

    fun selectEstate(estate: Estate) {
        mutable.update { it.copy(estate = estate) }
        refreshPreview()
    }

    fun selectCategory(category: Category) {
        mutable.update { s -> s.copy(category = repository.categories.first { it.category == category }) }
        refreshPreview()
    }

    fun onBuilding(v: String) = mutable.update { it.copy(building = v) }
    fun onUnitNo(v: String) = mutable.update { it.copy(unitNo = v) }
    fun onLocationNote(v: String) = mutable.update { it.copy(locationNote = v) }
    fun onDescription(v: String) = mutable.update { it.copy(description = v) }

    fun onLocation(fix: GpsFix) {
        mutable.update { it.copy(gps = fix) }
        refreshPreview()
    }

    fun addPhoto(path: String) = mutable.update { it.copy(photoPaths = it.photoPaths + path) }
    fun removePhoto(path: String) = mutable.update { it.copy(photoPaths = it.photoPaths - path) }

    private fun draft(s: CaptureState): CaseDraft? {
        val estate = s.estate ?: return null
        val category = s.category ?: return null
        return CaseDraft(
            category = category.category,
            estateId = estate.id,
            building = s.building.ifBlank { null },
            unitNo = s.unitNo.ifBlank { null },
            locationNote = s.locationNote.ifBlank { null },
            description = s.description.ifBlank { null },
            gps = s.gps,
            photoPaths = s.photoPaths,
        )
    }

    /** Routing preview and live warnings for the current estate, category and fix. */
    private var previewJob: Job? = null

    /**
     * Recomputes the routing preview and warnings for the current draft. Only the latest call may
     * write: an older one still running (started by an earlier field change) is cancelled, so
     * it cannot overwrite newer warnings with its stale draft's.
     */
    fun refreshPreview(): Job = scope.launch(start = CoroutineStart.LAZY) {
        val d = draft(mutable.value) ?: return@launch
        val onError = { msg: String -> mutable.update { it.copy(errorZh = msg) } }
        val routing = attempt(onError) { repository.previewRouting(d.category, d.estateId) }
        val warnings = attempt(onError) { repository.checkDraft(d.copy(photoPaths = emptyList())) } ?: emptyList()
        ensureActive()
        mutable.update { it.copy(routing = routing, warnings = warnings) }
    }.also { job ->
        synchronized(this) {
            previewJob?.cancel()
            previewJob = job
        }
        job.start()
    }

    /** Saves the case on the phone; the sync uploads it later. */
    fun save(): Job = scope.launch {
        val d = draft(mutable.value) ?: return@launch
        mutable.update { it.copy(saving = true, errorZh = null) }
        val captured = attempt({ msg -> mutable.update { it.copy(errorZh = msg) } }) { repository.capture(d) }
        mutable.update {
            it.copy(saving = false, savedCaseId = captured?.case?.id, warnings = captured?.warnings ?: it.warnings)
        }
    }

    /** The duplicate warning's "add to the existing case": the photos go there as a comment. */
    fun addToExisting(caseId: String): Job = scope.launch {
        val s = mutable.value
        mutable.update { it.copy(saving = true, errorZh = null) }
        val draft = ActionDraft(
            action = CaseAction.Comment,
            note = s.description.ifBlank { null },
            gps = s.gps,
            photoPaths = s.photoPaths,
            photoKind = PhotoKind.BEFORE,
        )
        val case = attempt({ msg -> mutable.update { it.copy(errorZh = msg) } }) { repository.act(caseId, draft) }
        mutable.update { it.copy(saving = false, savedCaseId = case?.id) }
    }
}

data class MyCaseRow(val item: CaseListItem, val label: SyncLabel)

data class MyCasesState(
    val loading: Boolean = true,
    val rows: List<MyCaseRow> = emptyList(),
    val filter: CaseFilter = CaseFilter(),
    val nextPageToken: String? = null,
    val errorZh: String? = null,
)

class MyCasesViewModel(
    private val repository: XunchaRepository,
    private val sync: SyncController,
    private val scope: CoroutineScope,
    private val pageSize: Int = 50,
) {
    private val mutable = MutableStateFlow(MyCasesState())
    val state: StateFlow<MyCasesState> = mutable.asStateFlow()
    val syncState = sync.state

    init {
        scope.launch { repository.changes.collect { reload() } }
        // Relabel rows while a sync runs ("正在上传 2/3 张照片").
        scope.launch { sync.state.collect { st -> relabel(st.running) } }
    }

    private fun relabel(syncing: Boolean) =
        mutable.update { s -> s.copy(rows = s.rows.map { MyCaseRow(it.item, syncLabel(it.item, syncing)) }) }

    fun setFilter(filter: CaseFilter) {
        mutable.update { it.copy(filter = filter) }
        reload()
    }

    fun showOnly(status: CaseStatus?) = setFilter(CaseFilter(statuses = listOfNotNull(status)))

    fun reload(): Job = scope.launch {
        val page = attempt({ msg -> mutable.update { it.copy(loading = false, errorZh = msg) } }) {
            repository.listCases(mutable.value.filter, pageSize, null)
        } ?: return@launch
        val syncing = sync.state.value.running
        mutable.update {
            it.copy(
                loading = false,
                errorZh = null,
                rows = page.items.map { item -> MyCaseRow(item, syncLabel(item, syncing)) },
                nextPageToken = page.nextPageToken,
            )
        }
    }

    fun loadMore(): Job = scope.launch {
        val token = mutable.value.nextPageToken ?: return@launch
        val page = attempt({ msg -> mutable.update { it.copy(errorZh = msg) } }) {
            repository.listCases(mutable.value.filter, pageSize, token)
        } ?: return@launch
        val syncing = sync.state.value.running
        mutable.update {
            it.copy(
                rows = it.rows + page.items.map { item -> MyCaseRow(item, syncLabel(item, syncing)) },
                nextPageToken = page.nextPageToken,
            )
        }
    }

    fun syncNow(): Job = scope.launch { sync.syncNow() }
}

data class CaseDetailState(
    val loading: Boolean = true,
    val detail: CaseDetail? = null,
    /** Units a street office may dispatch to (only loaded for DISPATCH). */
    val units: List<OrgUnit> = emptyList(),
    val busy: Boolean = false,
    val errorZh: String? = null,
)

class CaseDetailViewModel(
    private val repository: XunchaRepository,
    private val scope: CoroutineScope,
    private val caseId: String,
) {
    private val mutable = MutableStateFlow(CaseDetailState())
    val state: StateFlow<CaseDetailState> = mutable.asStateFlow()

    init {
        scope.launch { repository.changes.collect { reload() } }
    }

    fun reload(): Job = scope.launch {
        val detail = attempt({ msg -> mutable.update { it.copy(loading = false, errorZh = msg) } }) {
            repository.caseDetail(caseId)
        } ?: return@launch
        val units = if (ActionKind.DISPATCH in detail.allowedActions) {
            attempt({ msg -> mutable.update { it.copy(errorZh = msg) } }) { repository.units() } ?: emptyList()
        } else {
            emptyList()
        }
        mutable.update { it.copy(loading = false, detail = detail, units = units, errorZh = null) }
    }

    /**
     * Sends a photo the server refused once more at the next sync. Offered only for
     * [RETRYABLE_REFUSALS]: other refusals are about the bytes and would come back the same.
     */
    fun retryRefusedPhoto(sha256: String): Job = scope.launch {
        attempt({ msg -> mutable.update { it.copy(errorZh = msg) } }) { repository.retryRefusedPhoto(sha256) }
    }

    /** Fires [action]; the workflow in the core refuses what the role may not do. */
    fun perform(
        action: CaseAction,
        note: String? = null,
        gps: GpsFix? = null,
        photoPaths: List<String> = emptyList(),
    ): Job = scope.launch {
        val photoKind = when (action) {
            is CaseAction.Handle -> PhotoKind.AFTER
            is CaseAction.Verify, is CaseAction.Reopen -> PhotoKind.VERIFICATION
            else -> PhotoKind.BEFORE
        }
        mutable.update { it.copy(busy = true, errorZh = null) }
        attempt({ msg -> mutable.update { it.copy(errorZh = msg) } }) {
            repository.act(caseId, ActionDraft(action, note?.ifBlank { null }, gps, photoPaths, photoKind))
        }
        mutable.update { it.copy(busy = false) }
        reload()
    }
}

/**
 * Parked photos worth a manual retry: the size limit is the server's setting and can be raised,
 * and a vanished file may be put back. Undecodable, hash mismatch, too many pixels and a bad
 * address are about the bytes and would be refused again.
 */
val RETRYABLE_REFUSALS = setOf("PHOTO_TOO_LARGE", PHOTO_FILE_MISSING)

/** The core's code for a photo whose file is gone from the phone (parked, not refused by the server). */
const val PHOTO_FILE_MISSING = "PHOTO_FILE_MISSING"

/** The parked photo's line in the case detail, e.g. `照片被服务器拒收（PHOTO_UNDECODABLE）：…`. */
fun refusalTextZh(photo: CasePhoto): String? = when {
    photo.uploadState != PhotoUploadState.REFUSED -> null
    photo.refusalCode == PHOTO_FILE_MISSING ->
        "照片文件已不在手机上（$PHOTO_FILE_MISSING），无法上传；找回文件后可重新上传。"
    else -> "照片被服务器拒收（${photo.refusalCode ?: "未知"}）" + (photo.refusalMessage?.let { "：$it" } ?: "") +
        "。照片仍保存在手机上。"
}
