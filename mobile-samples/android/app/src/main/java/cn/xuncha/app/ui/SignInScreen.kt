package cn.xuncha.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import cn.xuncha.app.core.SignInViewModel

@Composable
fun SignInScreen(vm: SignInViewModel, onSignedIn: () -> Unit) {
    val s by vm.state.collectAsState()
    LaunchedEffect(s.user) { if (s.user != null) onSignedIn() }
    Column(Modifier.padding(24.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Text("巡查 · 登录", style = MaterialTheme.typography.headlineMedium)
        OutlinedTextField(s.serverUrl, vm::onServerUrl, label = { Text("服务器地址") }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(s.username, vm::onUsername, label = { Text("用户名") }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(
            s.password,
            vm::onPassword,
            label = { Text("密码") },
            visualTransformation = PasswordVisualTransformation(),
            modifier = Modifier.fillMaxWidth(),
        )
        s.errorZh?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        s.noticeZh?.let { Text(it, color = MaterialTheme.colorScheme.tertiary) }
        Button(onClick = { vm.signIn() }, enabled = !s.busy, modifier = Modifier.fillMaxWidth()) {
            if (s.busy) CircularProgressIndicator() else Text("登录并绑定本机")
        }
    }
}
