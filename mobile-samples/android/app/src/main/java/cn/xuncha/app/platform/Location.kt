package cn.xuncha.app.platform

import android.annotation.SuppressLint
import android.content.Context
import android.os.Looper
import cn.xuncha.ffi.GpsFix
import com.google.android.gms.location.LocationCallback
import com.google.android.gms.location.LocationRequest
import com.google.android.gms.location.LocationResult
import com.google.android.gms.location.LocationServices
import com.google.android.gms.location.Priority
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow

/**
 * Fused location fixes as WGS-84 with accuracy (the core stores WGS-84 and converts to GCJ-02
 * only for Chinese map SDKs). The caller has checked ACCESS_FINE_LOCATION.
 */
@SuppressLint("MissingPermission")
fun fusedFixes(context: Context): Flow<GpsFix> = callbackFlow {
    val client = LocationServices.getFusedLocationProviderClient(context)
    val request = LocationRequest.Builder(Priority.PRIORITY_HIGH_ACCURACY, 2_000L)
        .setMinUpdateIntervalMillis(1_000L)
        .build()
    val callback = object : LocationCallback() {
        override fun onLocationResult(result: LocationResult) {
            result.lastLocation?.let { loc ->
                trySend(
                    GpsFix(
                        lat = loc.latitude,
                        lon = loc.longitude,
                        accuracyM = if (loc.hasAccuracy()) loc.accuracy.toDouble() else null,
                        provider = loc.provider ?: "fused",
                    ),
                )
            }
        }
    }
    client.requestLocationUpdates(request, callback, Looper.getMainLooper())
    awaitClose { client.removeLocationUpdates(callback) }
}
