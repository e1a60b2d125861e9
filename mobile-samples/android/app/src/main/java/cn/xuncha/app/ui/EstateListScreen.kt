package cn.xuncha.app.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import cn.xuncha.app.core.EstateListViewModel
import cn.xuncha.app.core.SignInViewModel
import cn.xuncha.ffi.ManagementMode

private fun ManagementMode.zh() = when (this) {
    ManagementMode.COMPANY -> "社会化服务公司"
    ManagementMode.OWNER_SELF -> "产权人自行管理"
    ManagementMode.RESIDENT_SELF -> "居民自治"
}

@Composable
fun EstateListScreen(
    vm: EstateListViewModel,
    account: SignInViewModel,
    onCapture: (String) -> Unit,
    onMyCases: () -> Unit,
) {
    val s by vm.state.collectAsState()
    val a by account.state.collectAsState()
    a.signOutWarningZh?.let { warning ->
        AlertDialog(
            onDismissRequest = account::cancelSignOut,
            title = { Text("退出登录") },
            text = { Text(warning) },
            confirmButton = { TextButton(onClick = { account.confirmSignOut() }) { Text("仍然退出") } },
            dismissButton = { TextButton(onClick = account::cancelSignOut) { Text("取消") } },
        )
    }
    Column {
        Row(Modifier.fillMaxWidth().padding(16.dp)) {
            Text("旧楼区", style = MaterialTheme.typography.headlineSmall, modifier = Modifier.weight(1f))
            TextButton(onClick = onMyCases) { Text("我的案件") }
            TextButton(onClick = { account.requestSignOut() }, enabled = !a.busy) { Text("退出登录") }
        }
        s.errorZh?.let { Text(it, color = MaterialTheme.colorScheme.error, modifier = Modifier.padding(16.dp)) }
        LazyColumn {
            items(s.estates, key = { it.id }) { estate ->
                Column(Modifier.fillMaxWidth().clickable { onCapture(estate.id) }.padding(16.dp)) {
                    Text(estate.name, style = MaterialTheme.typography.titleMedium)
                    Text("${estate.district} · ${estate.street} · ${estate.community}")
                    Text("${estate.managementMode.zh()} · ${estate.buildings.size} 栋楼 · 点此上报")
                }
                HorizontalDivider()
            }
        }
    }
}
