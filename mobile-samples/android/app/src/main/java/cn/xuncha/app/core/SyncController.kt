package cn.xuncha.app.core

import cn.xuncha.ffi.SyncListener
import cn.xuncha.ffi.SyncPhase
import cn.xuncha.ffi.SyncProgress
import cn.xuncha.ffi.SyncReport
import cn.xuncha.ffi.XunchaException
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock

/** What the sync banner shows. */
data class SyncUiState(
    val running: Boolean = false,
    val phase: SyncPhase? = null,
    val done: Int = 0,
    val total: Int = 0,
    val lastReport: SyncReport? = null,
    val errorZh: String? = null,
) {
    val textZh: String
        get() = when {
            running && phase == SyncPhase.PUSH_EVENTS -> "正在上传记录 $done/$total"
            running && phase == SyncPhase.UPLOAD_PHOTOS -> "正在上传照片 $done/$total"
            running && phase == SyncPhase.PULL -> "正在获取更新"
            running -> "正在同步"
            errorZh != null -> errorZh
            lastReport != null -> "同步完成"
            else -> ""
        }
}

/**
 * Runs one sync at a time for the whole app: the UI's "sync now" button and the WorkManager job
 * share it, so two syncs never race on the outbox. Progress comes from the Rust core through the
 * [SyncListener] foreign trait.
 */
class SyncController(private val repository: XunchaRepository) {
    private val gate = Mutex()
    private val mutableState = MutableStateFlow(SyncUiState())
    val state: StateFlow<SyncUiState> = mutableState.asStateFlow()

    private val listener = object : SyncListener {
        override fun onProgress(progress: SyncProgress) {
            mutableState.value = mutableState.value.copy(
                running = true,
                phase = progress.phase,
                done = progress.done.toInt(),
                total = progress.total.toInt(),
            )
        }
    }

    /** Syncs now, or waits for the sync already running and then syncs once more. */
    suspend fun syncNow(): Result<SyncReport> = gate.withLock {
        mutableState.value = SyncUiState(running = true)
        try {
            val report = repository.sync(listener)
            mutableState.value = SyncUiState(lastReport = report)
            Result.success(report)
        } catch (e: XunchaException) {
            mutableState.value = SyncUiState(errorZh = e.userMessageZh())
            Result.failure(e)
        }
    }
}
