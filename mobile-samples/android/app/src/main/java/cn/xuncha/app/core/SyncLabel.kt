package cn.xuncha.app.core

import cn.xuncha.ffi.CaseListItem
import cn.xuncha.ffi.CaseStatus
import cn.xuncha.ffi.caseStatusNameZh

/** Per-case sync state on the "my cases" list. */
sealed class SyncLabel {
    abstract val textZh: String

    /** Changes only on this phone, no sync running. */
    data object OnPhone : SyncLabel() {
        override val textZh = "在手机上"
    }

    /** A sync is running and this case's photos are going up. */
    data class Uploading(val uploaded: Int, val total: Int) : SyncLabel() {
        override val textZh get() = "正在上传 $uploaded/$total 张照片"
    }

    /**
     * [count] of this case's photos are parked: the server refused them for good (undecodable,
     * too large, hash mismatch) or their file is gone. They are not sent again; the case detail
     * shows why.
     */
    data class PhotosRefused(val count: Int) : SyncLabel() {
        override val textZh get() = "$count 张照片未能上传"
    }

    /** The server has everything; the case waits for the street office. */
    data object Received : SyncLabel() {
        override val textZh = "已接收"
    }

    /** The server has everything and the case moved on: its status, e.g. 已派遣. */
    data class Status(val status: CaseStatus) : SyncLabel() {
        override val textZh get() = caseStatusNameZh(status)
    }
}

/** The label for one listed case; [syncing] is true while a sync runs. */
fun syncLabel(item: CaseListItem, syncing: Boolean): SyncLabel {
    val total = item.photosTotal.toInt()
    val uploaded = item.photosUploaded.toInt()
    return when {
        item.unsyncedChanges > 0u && syncing && uploaded < total -> SyncLabel.Uploading(uploaded, total)
        item.unsyncedChanges > 0u -> SyncLabel.OnPhone
        item.photosRefused > 0u -> SyncLabel.PhotosRefused(item.photosRefused.toInt())
        item.case.status == CaseStatus.REPORTED -> SyncLabel.Received
        else -> SyncLabel.Status(item.case.status)
    }
}
