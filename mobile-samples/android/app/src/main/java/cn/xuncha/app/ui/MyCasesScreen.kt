package cn.xuncha.app.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.FilterChip
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import cn.xuncha.app.core.MyCasesViewModel
import cn.xuncha.ffi.CaseStatus
import cn.xuncha.ffi.caseStatusNameZh
import cn.xuncha.ffi.categoryInfo
import java.time.ZoneId
import java.time.format.DateTimeFormatter

/** Times are stored UTC and shown in Beijing time. */
internal val beijing: DateTimeFormatter = DateTimeFormatter.ofPattern("MM-dd HH:mm").withZone(ZoneId.of("Asia/Shanghai"))

@Composable
fun MyCasesScreen(vm: MyCasesViewModel, onOpen: (String) -> Unit) {
    val s by vm.state.collectAsState()
    val sync by vm.syncState.collectAsState()
    Column {
        Row(Modifier.fillMaxWidth().padding(16.dp)) {
            Text("我的案件", style = MaterialTheme.typography.headlineSmall, modifier = Modifier.weight(1f))
            TextButton(onClick = { vm.syncNow() }, enabled = !sync.running) { Text(if (sync.running) "同步中" else "立即同步") }
        }
        if (sync.textZh.isNotEmpty()) Text(sync.textZh, modifier = Modifier.padding(horizontal = 16.dp))
        Row(Modifier.padding(horizontal = 16.dp)) {
            val current = s.filter.statuses.firstOrNull()
            listOf(null, CaseStatus.REPORTED, CaseStatus.DISPATCHED, CaseStatus.HANDLED, CaseStatus.CLOSED).forEach { st ->
                FilterChip(
                    selected = current == st,
                    onClick = { vm.showOnly(st) },
                    label = { Text(st?.let(::caseStatusNameZh) ?: "全部") },
                    modifier = Modifier.padding(end = 6.dp),
                )
            }
        }
        s.errorZh?.let { Text(it, color = MaterialTheme.colorScheme.error, modifier = Modifier.padding(16.dp)) }
        LazyColumn {
            items(s.rows, key = { it.item.case.id }) { row ->
                val case = row.item.case
                Column(Modifier.fillMaxWidth().clickable { onOpen(case.id) }.padding(16.dp)) {
                    Text(categoryInfo(case.category).nameZh, style = MaterialTheme.typography.titleMedium)
                    // The server's case number (案件编号); none until the case has synced.
                    Text(row.item.number ?: "待同步编号", style = MaterialTheme.typography.bodySmall)
                    Text("${case.building ?: ""} ${case.description ?: ""}".trim())
                    Row {
                        Text(row.label.textZh, modifier = Modifier.weight(1f))
                        Text(beijing.format(case.reportedAt))
                        if (case.overdue) Text("  已超期", color = MaterialTheme.colorScheme.error)
                    }
                }
                HorizontalDivider()
            }
            if (s.nextPageToken != null) item { TextButton(onClick = { vm.loadMore() }) { Text("加载更多") } }
        }
    }
}
