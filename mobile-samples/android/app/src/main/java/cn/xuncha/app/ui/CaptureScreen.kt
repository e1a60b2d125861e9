package cn.xuncha.app.ui

import android.Manifest
import android.content.Context
import android.content.pm.PackageManager
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.ImageCapture
import androidx.camera.core.ImageCaptureException
import androidx.camera.view.LifecycleCameraController
import androidx.camera.view.PreviewView
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.platform.LocalLifecycleOwner
import androidx.compose.ui.unit.dp
import androidx.compose.ui.viewinterop.AndroidView
import androidx.core.content.ContextCompat
import cn.xuncha.app.core.CaptureViewModel
import cn.xuncha.app.core.EstateListViewModel
import cn.xuncha.app.platform.fusedFixes
import cn.xuncha.ffi.CaptureWarning
import java.io.File
import java.util.UUID

private fun Context.granted(permission: String) =
    ContextCompat.checkSelfPermission(this, permission) == PackageManager.PERMISSION_GRANTED

/** Capture: CameraX photo, fused location with accuracy, Chinese category picker, routing preview. */
@Composable
fun CaptureScreen(vm: CaptureViewModel, estateId: String, estates: EstateListViewModel, onSaved: (String) -> Unit) {
    val context = LocalContext.current
    val lifecycle = LocalLifecycleOwner.current
    val s by vm.state.collectAsState()
    val estateList by estates.state.collectAsState()
    var permissionsGranted by remember {
        mutableStateOf(context.granted(Manifest.permission.CAMERA) && context.granted(Manifest.permission.ACCESS_FINE_LOCATION))
    }
    val askPermissions = rememberLauncherForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) {
        permissionsGranted = it.values.all { granted -> granted }
    }
    LaunchedEffect(Unit) {
        if (!permissionsGranted) askPermissions.launch(arrayOf(Manifest.permission.CAMERA, Manifest.permission.ACCESS_FINE_LOCATION))
    }
    LaunchedEffect(estateList.estates, estateId) {
        estateList.estates.firstOrNull { it.id == estateId }?.let(vm::selectEstate)
    }
    LaunchedEffect(permissionsGranted) {
        if (permissionsGranted) fusedFixes(context).collect(vm::onLocation)
    }
    // Photo provenance warnings (F3) are shown first; the case is saved already.
    LaunchedEffect(s.savedCaseId) { if (s.photoWarnings.isEmpty()) s.savedCaseId?.let(onSaved) }
    val saved = s.savedCaseId
    if (saved != null && s.photoWarnings.isNotEmpty()) {
        AlertDialog(
            onDismissRequest = { onSaved(saved) },
            title = { Text("已保存，请核对照片") },
            text = { Column { s.photoWarnings.forEach { Text(it) } } },
            confirmButton = { TextButton(onClick = { onSaved(saved) }) { Text("知道了") } },
        )
    }

    val camera = remember { LifecycleCameraController(context).apply { bindToLifecycle(lifecycle) } }
    var showDuplicates by remember { mutableStateOf(true) }

    Column(Modifier.padding(16.dp).verticalScroll(rememberScrollState())) {
        Text("上报 · ${s.estate?.name ?: ""}", style = MaterialTheme.typography.headlineSmall)
        if (permissionsGranted) {
            AndroidView({ PreviewView(it).apply { controller = camera } }, Modifier.fillMaxWidth().height(240.dp))
            Button(onClick = {
                // The camera file goes to the cache; the core re-encodes it into its own photo folder.
                val file = File(context.cacheDir, "camera-${UUID.randomUUID()}.jpg")
                camera.takePicture(
                    ImageCapture.OutputFileOptions.Builder(file).build(),
                    ContextCompat.getMainExecutor(context),
                    object : ImageCapture.OnImageSavedCallback {
                        override fun onImageSaved(output: ImageCapture.OutputFileResults) = vm.addPhoto(file.absolutePath)
                        override fun onError(exception: ImageCaptureException) = Unit
                    },
                )
            }) { Text("拍照（已拍 ${s.photoPaths.size} 张）") }
        } else {
            Text("需要相机和定位权限才能上报", color = MaterialTheme.colorScheme.error)
        }
        Text(
            s.gps?.let { "定位：%.5f, %.5f  精度 %s".format(it.lat, it.lon, s.accuracyZh ?: "未知") } ?: "正在定位…",
        )

        Text("问题类别", style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(top = 12.dp))
        vm.pickerGroups.forEach { (title, entries) ->
            Text(title, style = MaterialTheme.typography.labelLarge)
            entries.chunked(2).forEach { row ->
                Row {
                    row.forEach { entry ->
                        FilterChip(
                            selected = s.category?.category == entry.category,
                            onClick = { vm.selectCategory(entry.category) },
                            label = { Text(entry.nameZh) },
                            modifier = Modifier.padding(end = 8.dp),
                        )
                    }
                }
            }
        }
        s.category?.let { Text("依据：${it.legalBasis}", style = MaterialTheme.typography.bodySmall) }
        s.routing?.let { r ->
            Text("处置单位：${r.owner.name}", style = MaterialTheme.typography.bodyMedium)
            r.supervisor?.let { Text("监管单位：${it.name}") }
            if (r.firstOnSite.isNotEmpty()) Text("先行劝阻：${r.firstOnSite.joinToString("、") { it.name }}")
        }

        OutlinedTextField(s.building, vm::onBuilding, label = { Text("楼号") })
        OutlinedTextField(s.unitNo, vm::onUnitNo, label = { Text("单元") })
        OutlinedTextField(s.locationNote, vm::onLocationNote, label = { Text("位置说明") })
        OutlinedTextField(s.description, vm::onDescription, label = { Text("问题描述") })

        s.warnings.filter { it !is CaptureWarning.PossibleDuplicates }.forEach { w ->
            Text(warningText(w), color = MaterialTheme.colorScheme.error)
        }
        s.errorZh?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Button(onClick = { vm.save() }, enabled = s.canSave) { Text("保存（离线也可以）") }
    }

    val duplicates = s.duplicates.firstOrNull()
    if (duplicates != null && showDuplicates && s.savedCaseId == null) {
        AlertDialog(
            onDismissRequest = { showDuplicates = false },
            title = { Text("可能重复") },
            text = {
                Column {
                    Text(duplicates.messageZh)
                    duplicates.cases.forEach { d ->
                        TextButton(onClick = { vm.addToExisting(d.case.id) }) {
                            Text("追加到 ${d.case.description ?: d.case.id.take(8)}（${d.distanceM.toInt()} 米）")
                        }
                    }
                }
            },
            confirmButton = { TextButton(onClick = { showDuplicates = false }) { Text("仍然新建") } },
        )
    }
}

private fun warningText(w: CaptureWarning): String = when (w) {
    is CaptureWarning.LowGpsAccuracy -> w.messageZh
    is CaptureWarning.OutsideEstate -> w.messageZh
    is CaptureWarning.PossibleDuplicates -> w.messageZh
    is CaptureWarning.PhotoTakenEarlier -> w.messageZh
    is CaptureWarning.PhotoFarFromFix -> w.messageZh
}
