package cn.xuncha.app

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.lifecycle.ViewModel
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.compose.viewModel
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.rememberNavController
import cn.xuncha.app.core.CaptureViewModel
import cn.xuncha.app.core.CaseDetailViewModel
import cn.xuncha.app.core.EstateListViewModel
import cn.xuncha.app.core.MyCasesViewModel
import cn.xuncha.app.core.SignInViewModel
import cn.xuncha.app.sync.SyncScheduler
import cn.xuncha.app.ui.CaptureScreen
import cn.xuncha.app.ui.CaseDetailScreen
import cn.xuncha.app.ui.EstateListScreen
import cn.xuncha.app.ui.MyCasesScreen
import cn.xuncha.app.ui.SignInScreen

/** Android holders of the plain-Kotlin view models (cn.xuncha.app.core), scoped to the screen. */
class SignInHolder(app: XunchaApplication) : ViewModel() {
    val vm = SignInViewModel(app.repository, viewModelScope, BuildConfig.DEFAULT_SERVER_URL, app.deviceName)
}
class EstatesHolder(app: XunchaApplication) : ViewModel() {
    val vm = EstateListViewModel(app.repository, viewModelScope).also { it.reload() }
}
class CaptureHolder(app: XunchaApplication) : ViewModel() {
    val vm = CaptureViewModel(app.repository, viewModelScope)
}
class CasesHolder(app: XunchaApplication) : ViewModel() {
    val vm = MyCasesViewModel(app.repository, app.syncController, viewModelScope).also { it.reload() }
}
class DetailHolder(app: XunchaApplication, caseId: String) : ViewModel() {
    val vm = CaseDetailViewModel(app.repository, viewModelScope, caseId).also { it.reload() }
}

class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val app = application as XunchaApplication
        setContent { MaterialTheme { XunchaNav(app) } }
    }
}

@Composable
private fun XunchaNav(app: XunchaApplication) {
    val nav = rememberNavController()
    val signIn = viewModel { SignInHolder(app) }.vm
    val signedIn by signIn.state.collectAsState()
    // Until the Keystore session is read back we cannot tell which screen comes first.
    if (signedIn.restoring) {
        Box(Modifier.fillMaxSize(), contentAlignment = Alignment.Center) { CircularProgressIndicator() }
        return
    }
    NavHost(navController = nav, startDestination = if (signedIn.user == null) "signin" else "estates") {
        composable("signin") {
            SignInScreen(signIn, onSignedIn = { nav.navigate("estates") { popUpTo("signin") { inclusive = true } } })
        }
        composable("estates") {
            EstateListScreen(
                viewModel { EstatesHolder(app) }.vm,
                onCapture = { estateId -> nav.navigate("capture/$estateId") },
                onMyCases = { nav.navigate("cases") },
            )
        }
        composable("capture/{estateId}") { entry ->
            val estateId = entry.arguments?.getString("estateId").orEmpty()
            CaptureScreen(
                viewModel { CaptureHolder(app) }.vm,
                estateId = estateId,
                estates = viewModel { EstatesHolder(app) }.vm,
                onSaved = { caseId ->
                    SyncScheduler.syncSoon(app)
                    nav.navigate("case/$caseId") { popUpTo("estates") }
                },
            )
        }
        composable("cases") {
            MyCasesScreen(viewModel { CasesHolder(app) }.vm, onOpen = { id -> nav.navigate("case/$id") })
        }
        composable("case/{caseId}") { entry ->
            val caseId = entry.arguments?.getString("caseId").orEmpty()
            CaseDetailScreen(viewModel(key = caseId) { DetailHolder(app, caseId) }.vm)
        }
    }
}
