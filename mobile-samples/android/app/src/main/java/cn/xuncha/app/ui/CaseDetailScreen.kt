package cn.xuncha.app.ui

import android.graphics.BitmapFactory
import android.net.Uri
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.ui.platform.LocalContext
import androidx.core.content.FileProvider
import java.io.File
import java.util.UUID
import androidx.compose.foundation.Image
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.DropdownMenu
import androidx.compose.material3.DropdownMenuItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.unit.dp
import cn.xuncha.app.core.CaseDetailViewModel
import cn.xuncha.app.core.RETRYABLE_REFUSALS
import cn.xuncha.app.core.refusalTextZh
import cn.xuncha.ffi.ActionKind
import cn.xuncha.ffi.CaseAction
import cn.xuncha.ffi.EventSyncState
import cn.xuncha.ffi.actionNameZh
import cn.xuncha.ffi.caseStatusNameZh
import cn.xuncha.ffi.categoryInfo
import cn.xuncha.ffi.roleNameZh

private fun EventSyncState.zh() = when (this) {
    EventSyncState.PENDING -> "在手机上"
    EventSyncState.IN_FLIGHT -> "正在上传"
    EventSyncState.SYNCED -> "已接收"
    EventSyncState.REJECTED -> "被拒绝"
}

/** Case detail: status, photos, timeline with per-event sync state, and the role's actions. */
@Composable
fun CaseDetailScreen(vm: CaseDetailViewModel) {
    val s by vm.state.collectAsState()
    val detail = s.detail ?: return Text(s.errorZh ?: "加载中…", Modifier.padding(16.dp))
    val case = detail.case
    var reason by remember { mutableStateOf("") }
    var dispatchMenu by remember { mutableStateOf(false) }
    // HANDLE needs after-photos and VERIFY a verification photo: take one, then fire the action.
    val context = LocalContext.current
    var pending by remember { mutableStateOf<Pair<CaseAction, File>?>(null) }
    val takePicture = rememberLauncherForActivityResult(ActivityResultContracts.TakePicture()) { saved ->
        val (action, file) = pending ?: return@rememberLauncherForActivityResult
        pending = null
        if (saved) vm.perform(action, photoPaths = listOf(file.absolutePath))
    }
    fun withPhoto(action: CaseAction) {
        val file = File(context.cacheDir, "camera/${UUID.randomUUID()}.jpg").apply { parentFile?.mkdirs() }
        val uri: Uri = FileProvider.getUriForFile(context, "${context.packageName}.camera", file)
        pending = action to file
        takePicture.launch(uri)
    }

    Column(Modifier.padding(16.dp).verticalScroll(rememberScrollState())) {
        Text(categoryInfo(case.category).nameZh, style = MaterialTheme.typography.headlineSmall)
        Text("案件编号：${detail.number ?: "同步后由服务器编号"}")
        Text("状态：${caseStatusNameZh(case.status)}${if (case.overdue) "（已超期）" else ""}")
        Text("派遣时限：${beijing.format(case.dispatchDue)}")
        case.handleDue?.let { Text("处置时限：${beijing.format(it)}") }
        case.lastReason?.let { Text("原因：$it") }
        Row {
            detail.photos.mapNotNull { it.thumbnailPath }.forEach { path ->
                BitmapFactory.decodeFile(path)?.let { Image(it.asImageBitmap(), null, Modifier.size(96.dp).padding(4.dp)) }
            }
        }
        detail.photos.forEach { photo ->
            refusalTextZh(photo)?.let { text ->
                Text(text, color = MaterialTheme.colorScheme.error, style = MaterialTheme.typography.bodySmall)
                if (photo.refusalCode in RETRYABLE_REFUSALS) {
                    TextButton(onClick = { vm.retryRefusedPhoto(photo.sha256) }) { Text("重新上传") }
                }
            }
        }

        Text("处理记录", style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(top = 12.dp))
        detail.timeline.forEach { e ->
            Column(Modifier.padding(vertical = 6.dp)) {
                Text("${beijing.format(e.serverTime ?: e.deviceTime)}  ${actionNameZh(e.action.kind)} · ${roleNameZh(e.actor.role)}")
                e.note?.let { Text(it) }
                e.action.reason?.let { Text("原因：$it") }
                Text(e.syncState.zh() + (e.rejectMessage?.let { "：$it" } ?: ""), style = MaterialTheme.typography.bodySmall)
            }
        }

        s.errorZh?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        if (detail.allowedActions.any { it in setOf(ActionKind.RETURN, ActionKind.REOPEN, ActionKind.CANCEL) }) {
            OutlinedTextField(reason, { reason = it }, label = { Text("原因（退回/返工/作废必填）") })
        }
        // Joint-meeting minutes are recorded on the street office's dashboard, not on the phone.
        detail.allowedActions.filter { it != ActionKind.REPORT && it != ActionKind.MINUTES }.forEach { kind ->
            when (kind) {
                ActionKind.DISPATCH -> {
                    Button(onClick = { dispatchMenu = true }, enabled = !s.busy) { Text(actionNameZh(kind)) }
                    DropdownMenu(expanded = dispatchMenu, onDismissRequest = { dispatchMenu = false }) {
                        s.units.forEach { unit ->
                            DropdownMenuItem(text = { Text(unit.name) }, onClick = {
                                dispatchMenu = false
                                vm.perform(CaseAction.Dispatch(unit.id))
                            })
                        }
                    }
                }
                ActionKind.HANDLE, ActionKind.VERIFY -> Button(
                    onClick = { actionFor(kind, reason)?.let(::withPhoto) },
                    enabled = !s.busy,
                ) { Text("${actionNameZh(kind)}（拍照）") }
                else -> Button(onClick = { actionFor(kind, reason)?.let { vm.perform(it) } }, enabled = !s.busy) {
                    Text(actionNameZh(kind))
                }
            }
        }
    }
}

private fun actionFor(kind: ActionKind, reason: String): CaseAction? = when (kind) {
    ActionKind.DISSUADE -> CaseAction.Dissuade
    ActionKind.ESCALATE -> CaseAction.Escalate
    ActionKind.ACCEPT -> CaseAction.Accept
    ActionKind.RETURN -> CaseAction.Return(reason)
    ActionKind.HANDLE -> CaseAction.Handle
    ActionKind.VERIFY -> CaseAction.Verify
    ActionKind.REOPEN -> CaseAction.Reopen(reason)
    ActionKind.CANCEL -> CaseAction.Cancel(reason)
    ActionKind.COMMENT -> CaseAction.Comment
    ActionKind.REPORT, ActionKind.DISPATCH, ActionKind.MINUTES -> null
}
